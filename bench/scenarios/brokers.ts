/** Starting and stopping the brokers under test, each in its own process. */
import { execFileSync, fork, spawn, type ChildProcess } from 'node:child_process';
import { mkdtempSync, readFileSync, rmSync, writeFileSync } from 'node:fs';
import { connect, createServer } from 'node:net';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { fileURLToPath } from 'node:url';
import { procCpuSeconds } from '../lib/proc.js';

export interface RunningBroker {
  name: string;
  version: string;
  port: number;
  pid: number;
  config: Record<string, unknown>;
  /** CPU seconds (user+system) the broker process has used so far. */
  cpuSeconds(): number;
  stop(): Promise<void>;
}

export async function freePort(): Promise<number> {
  return new Promise((resolve, reject) => {
    const s = createServer();
    s.once('error', reject);
    s.listen(0, '0.0.0.0', () => {
      const port = (s.address() as { port: number }).port;
      s.close(() => resolve(port));
    });
  });
}

async function stopChild(child: ChildProcess): Promise<void> {
  if (child.exitCode !== null || child.signalCode !== null) return;
  const exited = new Promise<void>((resolve) => child.once('exit', () => resolve()));
  child.kill('SIGTERM');
  const t = setTimeout(() => child.kill('SIGKILL'), 3000);
  await exited;
  clearTimeout(t);
}

async function waitForPort(port: number, timeoutMs = 10_000): Promise<void> {
  const deadline = Date.now() + timeoutMs;
  for (;;) {
    const ok = await new Promise<boolean>((resolve) => {
      const s = connect({ host: '127.0.0.1', port });
      s.once('connect', () => {
        s.destroy();
        resolve(true);
      });
      s.once('error', () => resolve(false));
    });
    if (ok) return;
    if (Date.now() > deadline) throw new Error(`nothing listens on ${port}`);
    await new Promise((r) => setTimeout(r, 100));
  }
}

export async function startAedes(nodeArgs: string[] = []): Promise<RunningBroker> {
  const port = await freePort();
  const script = fileURLToPath(new URL('./aedes-server.js', import.meta.url));
  const child = fork(script, [String(port)], { stdio: ['ignore', 'inherit', 'inherit', 'ipc'], execArgv: nodeArgs });
  await new Promise<void>((resolve, reject) => {
    child.once('message', () => resolve());
    child.once('exit', (code) => reject(new Error(`aedes server exited with ${code}`)));
  });
  const pkg = JSON.parse(readFileSync(fileURLToPath(new URL('../../../node_modules/aedes/package.json', import.meta.url)), 'utf8')) as { version: string };
  return {
    name: 'aedes (bridge engine)',
    version: pkg.version,
    port,
    pid: child.pid!,
    config: { maxClientsIdLength: 64, connectTimeout: 30_000, maxPacketBytes: 64 * 1024 + 4 * 256 + 16, authorizeForward: 'P2P topic rewrite', p2pInboxPerClient: true, auth: 'none', uplink: 'none' },
    cpuSeconds: () => procCpuSeconds(child.pid!),
    stop: () => stopChild(child),
  };
}

export function ensureMosquitto(): string {
  try {
    return execFileSync('sh', ['-c', 'command -v mosquitto || ls /usr/sbin/mosquitto']).toString().trim().split('\n')[0]!;
  } catch {
    execFileSync('apt-get', ['install', '-y', 'mosquitto'], { stdio: 'inherit' });
    return '/usr/sbin/mosquitto';
  }
}

export async function startMosquitto(): Promise<RunningBroker> {
  const bin = ensureMosquitto();
  let version = 'unknown';
  try {
    execFileSync(bin, ['-h'], { stdio: 'pipe' });
  } catch (e) {
    const { stdout, stderr } = e as { stdout?: Buffer; stderr?: Buffer };
    const out = String(stdout ?? '') + String(stderr ?? '');
    version = /version ([\d.]+)/.exec(out)?.[1] ?? version;
  }
  const port = await freePort();
  const dir = mkdtempSync(join(tmpdir(), 'mqbridge-bench-mosquitto-'));
  const conf = join(dir, 'mosquitto.conf');
  const lines = [`listener ${port} 0.0.0.0`, 'allow_anonymous true', 'max_connections -1', 'persistence false', 'log_dest none'];
  writeFileSync(conf, lines.join('\n') + '\n');
  const child = spawn(bin, ['-c', conf], { stdio: ['ignore', 'inherit', 'inherit'] });
  await waitForPort(port);
  return {
    name: 'mosquitto',
    version,
    port,
    pid: child.pid!,
    config: { file: lines },
    cpuSeconds: () => procCpuSeconds(child.pid!),
    stop: async () => {
      await stopChild(child);
      rmSync(dir, { recursive: true, force: true });
    },
  };
}
