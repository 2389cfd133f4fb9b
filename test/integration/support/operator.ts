import { spawn, type ChildProcess } from 'node:child_process';
import { fileURLToPath } from 'node:url';
import { kubeconfigPath } from './kube.js';
import { waitFor } from './env.js';
import { collectJsonLogs } from './process.js';

const main = fileURLToPath(new URL('../../../operator/main.js', import.meta.url));

export interface OperatorProcess {
  child: ChildProcess;
  port: number;
  logs: Record<string, unknown>[];
  exited: Promise<number | null>;
  metric(name: string, labels?: Record<string, string>): Promise<number>;
  stop(signal?: NodeJS.Signals): Promise<number | null>;
}

/** Runs `node dist/operator/main.js` against the test API server, as its Deployment would. */
export async function startOperator(args: string[]): Promise<OperatorProcess> {
  const child = spawn(process.execPath, [main, '--kubeconfig', kubeconfigPath(), '--http-port', '0', '--log-level', 'info', ...args], {
    stdio: ['ignore', 'pipe', 'pipe'],
  });
  const logs = collectJsonLogs(child);
  const exited = new Promise<number | null>((resolve) => child.on('exit', (code) => resolve(code)));
  const listening = await waitFor('operator http', () => logs.find((l) => l.msg === 'operator http listening'), 30_000);
  const port = listening.port as number;
  const metric = async (name: string, labels: Record<string, string> = {}) => {
    const text = await (await fetch(`http://127.0.0.1:${port}/metrics`)).text();
    return text
      .split('\n')
      .filter((l) => l.startsWith(name) && Object.entries(labels).every(([k, v]) => l.includes(`${k}="${v}"`)))
      .reduce((sum, l) => sum + Number(l.split(' ').pop()), 0);
  };
  const stop = async (signal: NodeJS.Signals = 'SIGTERM') => {
    if (child.exitCode === null) child.kill(signal);
    return exited;
  };
  return { child, port, logs, exited, metric, stop };
}
