/** What every scenario writes: machine facts, the JSON file, and a table on stdout. */
import { execFileSync } from 'node:child_process';
import { mkdirSync, readFileSync, writeFileSync } from 'node:fs';
import os from 'node:os';
import { fileURLToPath } from 'node:url';

export function machine(): Record<string, unknown> {
  return {
    cpus: os.cpus().length,
    cpuModel: os.cpus()[0]?.model,
    totalMemBytes: os.totalmem(),
    platform: `${os.platform()} ${os.release()}`,
    node: process.version,
    // Other work on the machine shows here; the scenarios run beside it.
    loadAverageAtStart: os.loadavg().map((x) => Math.round(x * 100) / 100),
  };
}

export function packageVersion(name: string): string {
  try {
    const file = fileURLToPath(new URL(`../../../node_modules/${name}/package.json`, import.meta.url));
    return (JSON.parse(readFileSync(file, 'utf8')) as { version: string }).version;
  } catch {
    return 'unknown';
  }
}

export function javaVersion(): string {
  try {
    return execFileSync('java', ['-version'], { stdio: ['ignore', 'pipe', 'pipe'], encoding: 'utf8' }).trim() || 'unknown';
  } catch (e) {
    return /version "([^"]+)"/.exec(String((e as { stderr?: string }).stderr ?? ''))?.[1] ?? 'unknown';
  }
}

export function resultsDir(): string {
  const dir = fileURLToPath(new URL('../../../bench/results/', import.meta.url));
  mkdirSync(dir, { recursive: true });
  return dir;
}

export function writeResult(scenario: string, quick: boolean, body: Record<string, unknown>): string {
  const file = `${resultsDir()}${scenario}${quick ? '.quick' : ''}.json`;
  writeFileSync(file, JSON.stringify({ scenario, date: new Date().toISOString(), quick, ...body }, null, 2) + '\n');
  process.stderr.write(`[${scenario}] wrote ${file}\n`);
  return file;
}

export function printTable(head: string[], rows: string[][]): void {
  const widths = head.map((h, i) => Math.max(h.length, ...rows.map((r) => (r[i] ?? '').length)));
  const line = (cells: string[]) => '| ' + cells.map((c, i) => (c ?? '').padEnd(widths[i]!)).join(' | ') + ' |';
  console.log(line(head));
  console.log('|' + widths.map((w) => '-'.repeat(w + 2)).join('|') + '|');
  for (const r of rows) console.log(line(r));
}

export const round2 = (x: number) => Math.round(x * 100) / 100;

export function fmt(n: number): string {
  return Number.isFinite(n) ? Math.round(n).toLocaleString('en-US') : '-';
}

export function fmtUs(us: number): string {
  if (!Number.isFinite(us)) return '-';
  return us >= 10_000 ? `${(us / 1000).toFixed(0)} ms` : us >= 1000 ? `${(us / 1000).toFixed(1)} ms` : `${Math.round(us)} µs`;
}

export function pct(x: number): string {
  return Number.isFinite(x) ? `${Math.round(x * 100)} %` : '-';
}

/** Percentiles of a histogram-like object, for the JSON. */
export function latencySummary(h: { percentile(p: number): number; max: number; count: number; mean(): number }) {
  return { p50: h.percentile(50), p90: h.percentile(90), p99: h.percentile(99), p999: h.percentile(99.9), max: h.max, mean: Math.round(h.mean()), count: h.count };
}
