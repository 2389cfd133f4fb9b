import type { RedisClient } from './connection.js';

/**
 * aedes-persistence-redis 11 loads every persistent session at start-up one round trip at a
 * time: SMEMBERS `clients`, then HGETALL `client:<id>` per client, each awaited before the next
 * (its trie is private, so the loading cannot be done in its place). 50,000 sessions took a
 * new pod 125 s on a loaded Redis. While `load` runs, this answers the same HGETALLs from reads
 * sent all at once right after the SMEMBERS, in chunks, so the loop only takes what has arrived.
 * The two key names are the library's; `check` says whether it still loads that way.
 */
const CLIENTS_KEY = 'clients';
const clientKey = (clientId: string) => `client:${encodeURIComponent(clientId)}`;
/** Reads in flight at once: enough to keep Redis busy, few enough not to hold its event loop. */
const CHUNK = 1_000;

type HashReply = Record<string, Buffer>;

export interface PreloadReport {
  /** Clients SMEMBERS named, and how many of their hashes the library took from the preload. */
  clients: number;
  served: number;
}

export async function withPreloadedSessions(db: RedisClient, load: () => Promise<void>): Promise<PreloadReport> {
  const own = db as unknown as Record<string, unknown>;
  const smembers = db.smembers.bind(db);
  const hgetallBuffer = db.hgetallBuffer.bind(db);
  const preloaded = new Map<string, Promise<HashReply>>();
  const report = { clients: 0, served: 0 };
  own.smembers = async (key: string) => {
    const members = await smembers(key);
    if (key !== CLIENTS_KEY) return members;
    report.clients = members.length;
    void readAll(members, preloaded, hgetallBuffer);
    return members;
  };
  own.hgetallBuffer = (key: string) => {
    const hash = preloaded.get(key);
    if (!hash) return hgetallBuffer(key);
    preloaded.delete(key);
    report.served++;
    return hash;
  };
  try {
    await load();
  } finally {
    // The prototype's methods again, for everyone.
    delete own.smembers;
    delete own.hgetallBuffer;
  }
  return report;
}

/** Whether the library took what was preloaded (it did if it loaded any client at all). */
export function preloadWorked(report: PreloadReport): boolean {
  return report.clients === 0 || report.served > 0;
}

async function readAll(clientIds: string[], into: Map<string, Promise<HashReply>>, hgetall: (key: string) => Promise<HashReply>): Promise<void> {
  for (let i = 0; i < clientIds.length; i += CHUNK) {
    const chunk = clientIds.slice(i, i + CHUNK).map((id) => {
      const key = clientKey(id);
      const hash = hgetall(key);
      into.set(key, hash);
      return hash.catch(() => undefined); // the library's own await reports it
    });
    await Promise.all(chunk);
  }
}
