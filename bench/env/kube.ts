/**
 * The benchmarks' own kube-apiserver + etcd (test/env/kube.sh) on ports of their own, with
 * fresh state and the CRDs applied; stopped by the cleanup registry.
 */
import { execFile } from 'node:child_process';
import { rmSync } from 'node:fs';
import { fileURLToPath } from 'node:url';
import { promisify } from 'node:util';
import { onCleanup } from './cleanup.js';
import { kubectlVia } from './kubectl.js';

const run = promisify(execFile);
const ROOT = fileURLToPath(new URL('../../../', import.meta.url));
const SCRIPT = `${ROOT}test/env/kube.sh`;

const KUBE_DIR = process.env.BENCH_KUBE_DIR ?? `${ROOT}.run/bench-kube`;
export const KUBECONFIG = `${KUBE_DIR}/kubeconfig`;
export const KUBE_ENV = {
  KUBE_DIR,
  KUBE_API_PORT: process.env.BENCH_KUBE_API_PORT ?? '16445',
  KUBE_ETCD_PORT: process.env.BENCH_KUBE_ETCD_PORT ?? '12391',
  KUBE_ETCD_PEER_PORT: process.env.BENCH_KUBE_ETCD_PEER_PORT ?? '12392',
  KUBE_KCM_PORT: process.env.BENCH_KUBE_KCM_PORT ?? '16259',
  // kube.sh's kubectl prefers $KUBECONFIG: inside npm test that names the test API server.
  KUBECONFIG,
};

function script(...args: string[]): Promise<{ stdout: string; stderr: string }> {
  return run('bash', [SCRIPT, ...args], { env: { ...process.env, ...KUBE_ENV }, cwd: ROOT, maxBuffer: 64 << 20 });
}

/** kubectl against the bench API server; `input` goes to its stdin. */
export function kubectl(args: string[], input?: string): Promise<string> {
  return kubectlVia(SCRIPT, KUBE_ENV, args, input);
}

let started: Promise<void> | undefined;

export function kube(): Promise<void> {
  started ??= (async () => {
    await script('stop', '--kill').catch(() => undefined);
    rmSync(KUBE_ENV.KUBE_DIR, { recursive: true, force: true });
    const t0 = Date.now();
    process.stderr.write(`[bench] starting kube-apiserver and etcd (port ${KUBE_ENV.KUBE_API_PORT})…\n`);
    onCleanup('kube-apiserver', async () => {
      await script('stop', '--kill').catch(() => undefined);
      started = undefined;
    });
    await script('start');
    await kubectl(['apply', '--server-side', '-f', `${ROOT}crds/`]);
    await kubectl(['wait', '--for=condition=Established', '--timeout=60s', 'crd/mqttbridges.mqbridge.dev', 'crd/topicbindings.mqbridge.dev']);
    process.stderr.write(`[bench] API server up in ${((Date.now() - t0) / 1000).toFixed(1)} s\n`);
  })();
  return started;
}
