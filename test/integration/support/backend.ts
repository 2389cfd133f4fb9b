import { execFile } from 'node:child_process';
import { fileURLToPath } from 'node:url';
import { promisify } from 'node:util';

const run = promisify(execFile);
const script = fileURLToPath(new URL('../../../../test/env/rocketmq.sh', import.meta.url));

/** Takes the RocketMQ broker (with its proxy) away and brings it back, keeping its store. */
export async function stopBroker(): Promise<void> {
  await run('bash', [script, 'stop-broker', '--kill'], { env: process.env });
}

export async function startBroker(): Promise<void> {
  await run('bash', [script, 'start-broker'], { env: process.env, timeout: 180_000 });
}
