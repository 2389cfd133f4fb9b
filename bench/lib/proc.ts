/** Reading a process's CPU time and memory from /proc (Linux). */
import { execFileSync } from 'node:child_process';
import { readFileSync } from 'node:fs';

const CLK_TCK = (() => {
  try {
    return Number(execFileSync('getconf', ['CLK_TCK']).toString().trim()) || 100;
  } catch {
    return 100;
  }
})();

/** CPU seconds (user+system) the process has used so far. */
export function procCpuSeconds(pid: number): number {
  try {
    const stat = readFileSync(`/proc/${pid}/stat`, 'utf8');
    const fields = stat.slice(stat.lastIndexOf(')') + 2).split(' ');
    return (Number(fields[11]) + Number(fields[12])) / CLK_TCK; // utime, stime
  } catch {
    return NaN;
  }
}

/** Resident set size in bytes (VmRSS). */
export function procRssBytes(pid: number): number {
  try {
    const m = /VmRSS:\s+(\d+) kB/.exec(readFileSync(`/proc/${pid}/status`, 'utf8'));
    return m ? Number(m[1]) * 1024 : NaN;
  } catch {
    return NaN;
  }
}

export const sleep = (ms: number) => new Promise<void>((r) => setTimeout(r, ms));

/** Waits until the process uses under 5 % of a core over 200 ms (at most `maxMs`). */
export async function settle(pid: number, maxMs = 15_000): Promise<void> {
  for (let waited = 0; waited < maxMs; waited += 200) {
    const c0 = procCpuSeconds(pid);
    await sleep(200);
    if (procCpuSeconds(pid) - c0 < 0.01) return;
  }
}
