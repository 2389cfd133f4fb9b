/**
 * Microsecond timestamps that separate processes on one machine agree on. process.hrtime is
 * CLOCK_MONOTONIC, which is system-wide on Linux; the parent takes one (Date.now, hrtime) anchor
 * and hands it to every worker, so all processes map hrtime to the same wall-clock microseconds
 * (no per-process Date.now() millisecond skew).
 */
export interface ClockAnchor {
  epochUs: number;
  hrNs: string; // bigint as string, for IPC
}

export function takeAnchor(): ClockAnchor {
  return { epochUs: Date.now() * 1000, hrNs: process.hrtime.bigint().toString() };
}

export function clockFrom(anchor: ClockAnchor): () => number {
  const hr0 = BigInt(anchor.hrNs);
  const epochUs = anchor.epochUs;
  return () => epochUs + Number(process.hrtime.bigint() - hr0) / 1000;
}
