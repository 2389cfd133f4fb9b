import { spawn, type ChildProcess } from 'node:child_process';
import { mkdtemp, writeFile } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { fileURLToPath } from 'node:url';
import { stringify } from 'yaml';

const main = fileURLToPath(new URL('../../../bridge/main.js', import.meta.url));

export interface BridgeProcess {
  child: ChildProcess;
  mqttPort: number;
  httpPort: number;
  /** 0 when the token API is not served. */
  tokenApiPort: number;
  logs: Record<string, unknown>[];
  exited: Promise<number | null>;
}

/** Collects a child's JSON log lines from stdout, and its stderr as `{ stderr }` entries. */
export function collectJsonLogs(child: ChildProcess): Record<string, unknown>[] {
  const logs: Record<string, unknown>[] = [];
  let buffered = '';
  child.stdout!.on('data', (d: Buffer) => {
    buffered += d.toString();
    const lines = buffered.split('\n');
    buffered = lines.pop()!;
    for (const line of lines) {
      if (!line.trim()) continue;
      try {
        logs.push(JSON.parse(line) as Record<string, unknown>);
      } catch {
        logs.push({ stdout: line });
      }
    }
  });
  child.stderr!.on('data', (d: Buffer) => logs.push({ stderr: d.toString() }));
  return logs;
}

/** Runs `node dist/bridge/main.js --config <file>` as a real process, as a pod would. */
export async function spawnBridge(config: unknown): Promise<BridgeProcess> {
  const dir = await mkdtemp(join(tmpdir(), 'mqbridge-proc-'));
  const path = join(dir, 'bridge.yaml');
  // Info level at least: the listening ports are read from the log.
  await writeFile(path, stringify({ ...(config as object), log: { level: 'info' } }));
  const child = spawn(process.execPath, [main, '--config', path], { stdio: ['ignore', 'pipe', 'pipe'] });
  const logs = collectJsonLogs(child);
  const exited = new Promise<number | null>((resolve) => child.on('exit', (code) => resolve(code)));
  const deadline = Date.now() + 30_000;
  for (;;) {
    const listening = logs.find((l) => l.msg === 'bridge listening');
    if (listening) return { child, logs, exited, mqttPort: listening.mqtt as number, httpPort: listening.http as number, tokenApiPort: (listening.tokenApi as number | undefined) ?? 0 };
    if (Date.now() > deadline || child.exitCode !== null) {
      child.kill('SIGKILL'); // never leave a stray bridge behind a failed test
      throw new Error(`bridge did not start: ${JSON.stringify(logs)}`);
    }
    await new Promise((r) => setTimeout(r, 50));
  }
}
