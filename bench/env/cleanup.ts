/**
 * Everything a benchmark starts (RocketMQ, API server, bridge processes) registers how to
 * stop it here, so a failure or Ctrl-C never leaves JVMs or bridges running.
 */
type Stopper = () => Promise<void> | void;

const stoppers = new Map<number, { name: string; stop: Stopper }>();
let nextId = 1;

export function onCleanup(name: string, stop: Stopper): () => void {
  const id = nextId++;
  stoppers.set(id, { name, stop });
  return () => void stoppers.delete(id);
}

/** Stops everything still registered, newest first. */
export async function cleanupAll(): Promise<void> {
  const all = [...stoppers.entries()].reverse();
  stoppers.clear();
  for (const [, s] of all) {
    try {
      await s.stop();
    } catch (e) {
      process.stderr.write(`[bench] stopping ${s.name} failed: ${(e as Error).message}\n`);
    }
  }
}
