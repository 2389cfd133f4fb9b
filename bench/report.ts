/**
 * npm run bench:report: turns bench/results/<scenario>.json into PNG charts under docs/img/
 * and rewrites the generated tables of docs/benchmarks.md (between `<!-- report:NAME -->` and
 * `<!-- /report:NAME -->`); the prose around them is written by hand.
 * `--quick` reads the .quick.json files and writes into .run/bench-report/ instead.
 */
import { existsSync, mkdirSync, readFileSync, writeFileSync } from 'node:fs';
import { fileURLToPath } from 'node:url';
import { barChartSvg, toPng } from './report/chart.js';
import * as sections from './report/sections.js';

const ROOT = fileURLToPath(new URL('../../', import.meta.url));
const quick = process.argv.includes('--quick');
const outDir = quick ? `${ROOT}.run/bench-report/` : ROOT;
const imgDir = `${outDir}docs/img/`;
const docFile = `${ROOT}docs/benchmarks.md`;
mkdirSync(imgDir, { recursive: true });

const builders: Record<string, (r: never) => sections.Section> = {
  uplink: sections.uplink,
  downlink: sections.downlink,
  p2p: sections.p2p,
  idle: sections.idle,
  operator: sections.operator,
  'mqtt-engine': sections.mqttEngine,
  'node-propagation': sections.nodePropagation,
  fleet: (r: never) => sections.fleet(r),
  'fleet.redis-cluster': (r: never) => sections.fleet(r, { file: 'fleet-redis-cluster', title: 'fleet on a 3-node Redis Cluster' }),
};

let doc = readFileSync(docFile, 'utf8');
for (const [name, build] of Object.entries(builders)) {
  const file = `${ROOT}bench/results/${name}${quick ? '.quick' : ''}.json`;
  if (!existsSync(file)) {
    console.error(`[report] ${name}: no ${file}, skipped`);
    continue;
  }
  const result = JSON.parse(readFileSync(file, 'utf8')) as { date: string };
  const section = build(result as never);
  const images: string[] = [];
  for (const { file: img, chart } of section.charts) {
    writeFileSync(`${imgDir}bench-${img}.png`, toPng(barChartSvg(chart)));
    images.push(`![${chart.title}](img/bench-${img}.png)`);
  }
  const body = `${sections.context(result)}\n\n${section.table}\n\n${images.join('\n')}`;
  const open = `<!-- report:${name} -->`;
  const close = `<!-- /report:${name} -->`;
  const at = doc.indexOf(open);
  const end = doc.indexOf(close);
  if (at >= 0 && end > at) doc = `${doc.slice(0, at + open.length)}\n${body}\n${doc.slice(end)}`;
  else console.error(`[report] ${name}: no ${open} … ${close} in docs/benchmarks.md; tables not written`);
  console.error(`[report] ${name}: ${section.charts.length} chart(s)`);
}
writeFileSync(quick ? `${outDir}benchmarks.md` : docFile, doc);
console.error(`[report] wrote ${quick ? `${outDir}benchmarks.md` : docFile} and ${imgDir}`);
