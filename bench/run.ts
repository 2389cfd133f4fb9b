/** Benchmark dispatcher: node dist/bench/run.js <scenario>|all [--quick] */
const scenarios: Record<string, () => Promise<{ run(opts: { quick: boolean }): Promise<void> }>> = {
  'mqtt-engine': () => import('./scenarios/mqtt-engine.js'),
  'scale-out': () => import('./scenarios/scale-out.js'),
};

const args = process.argv.slice(2);
const quick = args.includes('--quick');
const name = args.find((a) => !a.startsWith('--'));
if (!name || (name !== 'all' && !(name in scenarios))) {
  console.error(`usage: node dist/bench/run.js <${[...Object.keys(scenarios), 'all'].join('|')}> [--quick]`);
  process.exit(2);
}
for (const n of name === 'all' ? Object.keys(scenarios) : [name]) {
  const mod = await scenarios[n]!();
  await mod.run({ quick });
}
