/** Benchmark dispatcher: node dist/bench/run.js <scenario>[,<scenario>…]|all [--quick] */
import { cleanupAll } from './env/cleanup.js';
import { setRocketmqWarmUp } from './env/rocketmq.js';

const scenarios: Record<string, () => Promise<{ run(opts: { quick: boolean }): Promise<void> }>> = {
  'mqtt-engine': () => import('./scenarios/mqtt-engine.js'),
  uplink: () => import('./scenarios/uplink.js'),
  downlink: () => import('./scenarios/downlink.js'),
  p2p: () => import('./scenarios/p2p.js'),
  idle: () => import('./scenarios/idle.js'),
  operator: () => import('./scenarios/operator.js'),
  'scale-out': () => import('./scenarios/scale-out.js'),
  fuzz: () => import('./scenarios/fuzz.js'),
  'pile-up': () => import('./scenarios/pile-up.js'),
  fleet: () => import('./scenarios/fleet.js'),
  'node-propagation': () => import('./scenarios/node-propagation.js'),
};
// Needs root and the real node of test/env/node.sh; npm test runs its short form in its node
// step, while that node is up, instead of starting another one for `all`.
const NOT_IN_ALL = new Set(['node-propagation']);

const args = process.argv.slice(2);
const quick = args.includes('--quick');
const name = args.find((a) => !a.startsWith('--'));
const chosen = name === 'all' ? Object.keys(scenarios).filter((n) => !NOT_IN_ALL.has(n)) : (name ?? '').split(',');
if (!name || chosen.some((n) => !(n in scenarios))) {
  console.error(`usage: node dist/bench/run.js <${[...Object.keys(scenarios), 'all'].join('|')}> [--quick]`);
  process.exit(2);
}
// Ctrl-C or a kill: stop RocketMQ, the API server and bridges before leaving.
for (const signal of ['SIGINT', 'SIGTERM'] as const) {
  process.once(signal, () => {
    process.stderr.write(`[bench] ${signal}: stopping what was started\n`);
    void cleanupAll().finally(() => process.exit(130));
  });
}
setRocketmqWarmUp(quick ? 0 : Number(process.env.BENCH_RMQ_WARM_UP_S ?? 150));
const t0 = Date.now();
try {
  for (const n of chosen) {
    const mod = await scenarios[n]!();
    await mod.run({ quick });
  }
} catch (e) {
  process.exitCode = 1;
  console.error(e instanceof Error ? e.stack : e);
} finally {
  await cleanupAll();
  process.stderr.write(`[bench] done in ${((Date.now() - t0) / 1000).toFixed(0)} s\n`);
}
