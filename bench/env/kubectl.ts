/** kubectl through a test/env script (kube.sh or node.sh), with the environment that picks its cluster. */
import { spawn } from 'node:child_process';
import { fileURLToPath } from 'node:url';

const ROOT = fileURLToPath(new URL('../../../', import.meta.url));

/** `bash <script> kubectl <args>`; `input` goes to its stdin; rejects with kubectl's stderr. */
export function kubectlVia(script: string, env: Record<string, string>, args: string[], input?: string): Promise<string> {
  return new Promise((resolve, reject) => {
    const child = spawn('bash', [script, 'kubectl', ...args], { env: { ...process.env, ...env }, cwd: ROOT, stdio: ['pipe', 'pipe', 'pipe'] });
    let out = '';
    let err = '';
    child.stdout.on('data', (d: Buffer) => (out += d.toString()));
    child.stderr.on('data', (d: Buffer) => (err += d.toString()));
    child.once('exit', (code) => (code === 0 ? resolve(out) : reject(new Error(`kubectl ${args.join(' ')}: ${err.trim()}`))));
    child.stdin.end(input ?? '');
  });
}
