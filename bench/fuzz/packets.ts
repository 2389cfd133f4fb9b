/**
 * Generated MQTT 3.1.1 traffic for the fuzz scenario: structured packets from fast-check
 * arbitraries (valid and invalid field values), encoded with mqtt-packet, then mutated at the
 * byte level (bit flips, reserved flag bits, QoS 3, wrong remaining lengths, truncation, bad
 * UTF-8, garbage), and put together into connection sessions that also send valid packets in
 * invalid orders. Deterministic for a seed.
 */
import fc from 'fast-check';
import mqttPacket, { type Packet } from 'mqtt-packet';

export const FUZZ_PARENT = 'fuzz';

/** Topic levels that reach the bridge's rules: its binding, wildcards, reserved and internal prefixes. */
const level = fc.oneof(
  { weight: 4, arbitrary: fc.constantFrom(FUZZ_PARENT, 'p2p', 'x', 'fz2', '+', '#', '$SYS', '$mqbridge', 'uploadToken', '', '..', 'GID_fuzz@@@a') },
  { weight: 2, arbitrary: fc.string({ maxLength: 10 }) },
  { weight: 1, arbitrary: fc.string({ unit: 'binary', maxLength: 6 }) },
  { weight: 1, arbitrary: fc.integer({ min: 100, max: 400 }).map((n) => 'L'.repeat(n)) },
);
const topic = fc.oneof(
  { weight: 6, arbitrary: fc.array(level, { minLength: 1, maxLength: 6 }).map((levels) => levels.join('/')) },
  { weight: 1, arbitrary: fc.constantFrom('', '#', '+', `${FUZZ_PARENT}/p2p/GID_fuzz@@@a`, '$SYS/uploadToken', `$mqbridge/p2p/GID_fuzz%40%40%40a/${FUZZ_PARENT}/x`) },
  { weight: 1, arbitrary: fc.integer({ min: 90, max: 120 }).map((n) => Array(n).fill('a').join('/')) },
);
const clientId = fc.oneof(
  { weight: 4, arbitrary: fc.stringMatching(/^GID_fuzz@@@[a-z0-9]{1,10}$/) },
  { weight: 1, arbitrary: fc.constantFrom('', 'GID_fuzz@@@canary', 'GID_fuzz@@@a') },
  { weight: 1, arbitrary: fc.string({ maxLength: 20 }) },
  { weight: 1, arbitrary: fc.integer({ min: 60, max: 90 }).map((n) => `GID_fuzz@@@${'d'.repeat(n)}`) },
  { weight: 1, arbitrary: fc.string({ unit: 'binary', maxLength: 20 }) },
);
const qos = fc.constantFrom(0, 1, 2) as fc.Arbitrary<0 | 1 | 2>;
const messageId = fc.oneof(fc.integer({ min: 1, max: 20 }), fc.integer({ min: 1, max: 65535 }));
// Large payloads are made, not drawn byte by byte: drawing 64 KiB from the generator is slow.
const payload = fc.oneof(
  { weight: 20, arbitrary: fc.uint8Array({ maxLength: 64 }).map((u) => Buffer.from(u)) },
  { weight: 1, arbitrary: fc.integer({ min: 60_000, max: 70_000 }).map((n) => Buffer.alloc(n, n & 0xff)) },
  { weight: 1, arbitrary: fc.string({ maxLength: 40 }).map((s) => Buffer.from(JSON.stringify({ token: s, type: 'RW' }))) },
);

const connect = fc.record({
  cmd: fc.constant('connect' as const),
  protocolId: fc.constantFrom('MQTT', 'MQTT', 'MQIsdp', 'MQTX'),
  protocolVersion: fc.constantFrom(4, 4, 4, 3, 5, 2) as fc.Arbitrary<3 | 4 | 5>,
  clean: fc.boolean(),
  clientId,
  keepalive: fc.oneof(fc.constantFrom(0, 1, 60), fc.integer({ min: 0, max: 65535 })),
  will: fc.option(fc.record({ topic, payload, qos, retain: fc.boolean() }), { nil: undefined }),
  username: fc.option(fc.oneof(fc.string({ maxLength: 40 }), fc.constantFrom('Signature|AK|i', 'Token|AK|i')), { nil: undefined }),
  password: fc.option(payload, { nil: undefined }),
});
/** A CONNECT the bridge may accept: the fuzz session then gets to its other packets. */
const goodConnect = fc.record({
  cmd: fc.constant('connect' as const),
  protocolId: fc.constant('MQTT'),
  protocolVersion: fc.constant(4 as const),
  clean: fc.boolean(),
  clientId: fc.stringMatching(/^GID_fuzz@@@[a-z0-9]{1,6}$/),
  keepalive: fc.constantFrom(0, 30, 60),
  will: fc.option(fc.record({ topic: fc.constantFrom(`${FUZZ_PARENT}/will`, `${FUZZ_PARENT}/p2p/GID_fuzz@@@a`), payload, qos, retain: fc.boolean() }), { nil: undefined, freq: 4 }),
});
const publish = fc.record({ cmd: fc.constant('publish' as const), topic, payload, qos, messageId, dup: fc.boolean(), retain: fc.boolean() });
const subscribe = fc.record({
  cmd: fc.constant('subscribe' as const),
  messageId,
  subscriptions: fc.array(fc.record({ topic, qos }), { minLength: 1, maxLength: 20 }),
});
const manyFilters = fc.record({
  cmd: fc.constant('subscribe' as const),
  messageId,
  subscriptions: fc.integer({ min: 150, max: 1500 }).map((n) => Array.from({ length: n }, (_, i) => ({ topic: `${FUZZ_PARENT}/f${i % 200}`, qos: (i % 3) as 0 | 1 | 2 }))),
});
const unsubscribe = fc.record({ cmd: fc.constant('unsubscribe' as const), messageId, unsubscriptions: fc.array(topic, { minLength: 1, maxLength: 10 }) });
const ack = fc.record({ cmd: fc.constantFrom('puback', 'pubrec', 'pubrel', 'pubcomp') as fc.Arbitrary<'puback'>, messageId });
const simple = fc.record({ cmd: fc.constantFrom('pingreq', 'disconnect', 'pingresp', 'connack', 'suback', 'unsuback') as fc.Arbitrary<'pingreq'> });

const anyPacket: fc.Arbitrary<Packet> = fc.oneof(
  { weight: 8, arbitrary: publish },
  { weight: 3, arbitrary: subscribe },
  { weight: 1, arbitrary: manyFilters },
  { weight: 1, arbitrary: unsubscribe },
  { weight: 3, arbitrary: ack },
  { weight: 1, arbitrary: simple },
  { weight: 1, arbitrary: connect },
) as fc.Arbitrary<Packet>;

/** A connection's worth of traffic: mostly a CONNECT first (so later packets get past it), sometimes not. */
const sessionPlan = fc.record({
  start: fc.constantFrom('connect', 'connect', 'connect', 'connect', 'none', 'twice') as fc.Arbitrary<'connect' | 'none' | 'twice'>,
  first: fc.oneof({ weight: 4, arbitrary: goodConnect }, { weight: 1, arbitrary: connect }),
  /** How the first CONNECT logs in: a valid Signature or token of the fuzz key (from the scenario), or as generated. */
  login: fc.constantFrom('signature', 'signature', 'token', 'token', 'generated') as fc.Arbitrary<Login>,
  tokenResources: fc.array(fc.constantFrom(`${FUZZ_PARENT}/#`, `${FUZZ_PARENT}/+/x`, `${FUZZ_PARENT}/p2p/#`, 'other/#', `${FUZZ_PARENT}/a`), { minLength: 1, maxLength: 3 }),
  packets: fc.array(anyPacket, { minLength: 1, maxLength: 30 }),
  mutations: fc.array(fc.integer({ min: 0, max: 99 }), { minLength: 32, maxLength: 32 }),
  websocket: fc.integer({ min: 0, max: 4 }).map((n) => n === 0),
  chunking: fc.constantFrom('whole', 'whole', 'packets', 'random') as fc.Arbitrary<'whole' | 'packets' | 'random'>,
  /** Send the CONNECT alone and wait for the CONNACK, as clients do: the rest then meets a connected client. */
  handshake: fc.integer({ min: 0, max: 9 }).map((n) => n < 7),
  seed: fc.integer(),
});
type Plan = typeof sessionPlan extends fc.Arbitrary<infer T> ? T : never;

export type Login = 'signature' | 'token' | 'generated';

/** Makes username and password of a valid login for a client id (the scenario holds the key). */
export type Signer = (kind: Exclude<Login, 'generated'>, clientId: string, resources: string[]) => { username: string; password: Buffer };

export interface Session {
  /** The bytes to send, in the writes (TCP) or messages (WebSocket) to send them in. */
  chunks: Buffer[];
  packets: number;
  websocket: boolean;
  /** chunks[0] is a CONNECT alone: wait for the server's answer before the rest. */
  handshake: boolean;
}

/** A small deterministic PRNG for the byte-level mutations (mulberry32). */
function prng(seed: number): () => number {
  let a = seed >>> 0;
  return () => {
    a = (a + 0x6d2b79f5) >>> 0;
    let t = a;
    t = Math.imul(t ^ (t >>> 15), t | 1);
    t ^= t + Math.imul(t ^ (t >>> 7), t | 61);
    return ((t ^ (t >>> 14)) >>> 0) / 4294967296;
  };
}

function encode(packet: Packet): Buffer | undefined {
  try {
    return mqttPacket.generate(packet);
  } catch {
    return undefined; // mqtt-packet refuses some generated fields: the mutations make such bytes anyway
  }
}

/** One byte-level mutation, chosen by `kind` (0-99; 0-59 leave the packet as it is). */
function mutate(bytes: Buffer, kind: number, rand: () => number): Buffer {
  const b = Buffer.from(bytes);
  const at = (n: number) => Math.floor(rand() * n);
  if (kind < 60 || b.length === 0) return b;
  if (kind < 68) {
    for (let i = 0; i < 1 + at(4); i++) b[at(b.length)]! ^= 1 << at(8);
    return b;
  }
  if (kind < 72) return Buffer.concat([Buffer.from([(b[0]! & 0xf0) | at(16)]), b.subarray(1)]); // reserved flag bits
  if (kind < 75) return Buffer.concat([Buffer.from([0x36 | (b[0]! & 0x01)]), b.subarray(1)]); // PUBLISH with QoS 3
  if (kind < 80) {
    const lengths = [[0xff, 0xff, 0xff, 0x7f], [0xff, 0xff, 0xff, 0xff, 0x7f], [0x00], [at(256) & 0x7f], [0x80, 0x80, 0x80, 0x01], [0xff, 0x7f]];
    const length = lengths[at(lengths.length)]!;
    let i = 1;
    while (i < b.length && b[i]! & 0x80) i++;
    return Buffer.concat([b.subarray(0, 1), Buffer.from(length), b.subarray(Math.min(i + 1, b.length))]); // a wrong remaining length
  }
  if (kind < 86) return b.subarray(0, at(b.length)); // truncated
  if (kind < 90) {
    const bad = [[0xc3, 0x28], [0xff], [0xed, 0xa0, 0x80], [0xf4, 0x90, 0x80, 0x80], [0x00]][at(5)]!;
    const pos = Math.min(b.length, 4 + at(8));
    return Buffer.concat([b.subarray(0, pos), Buffer.from(bad), b.subarray(pos)]); // bad UTF-8 (or NUL) in a string field
  }
  if (kind < 95) return Buffer.concat([b, Buffer.from(Array.from({ length: 1 + at(64) }, () => at(256)))]); // trailing garbage
  return Buffer.concat([b, b]); // the same packet twice
}

function sessionOf(plan: Plan, signer: Signer | undefined): Session {
  const rand = prng(plan.seed);
  const first = signer && plan.login !== 'generated' ? { ...plan.first, ...signer(plan.login, plan.first.clientId, plan.tokenResources) } : plan.first;
  const firsts = plan.start === 'none' ? [] : plan.start === 'twice' ? [first, first] : [first];
  // The first CONNECT stays valid more often, so that most sessions get to the other packets.
  const connects = firsts.map((p) => encode(p as Packet)).filter((b): b is Buffer => b !== undefined);
  const rest = plan.packets.map((p, i) => {
    const bytes = encode(p);
    return bytes && mutate(bytes, plan.mutations[i % plan.mutations.length]!, rand);
  });
  const others = rest.filter((b): b is Buffer => b !== undefined && b.length > 0);
  const packets = [...connects, ...others];
  if (plan.handshake && connects.length === 1) {
    return { chunks: [connects[0]!, ...chunk(others, plan.chunking, rand)], packets: packets.length, websocket: plan.websocket, handshake: true };
  }
  return { chunks: chunk(packets, plan.chunking, rand), packets: packets.length, websocket: plan.websocket, handshake: false };
}

function chunk(packets: Buffer[], how: Plan['chunking'], rand: () => number): Buffer[] {
  if (how === 'packets') return packets;
  const all = Buffer.concat(packets);
  if (how === 'whole' || all.length < 2) return [all];
  const out: Buffer[] = [];
  for (let i = 0; i < all.length; ) {
    const n = 1 + Math.floor(rand() * Math.min(all.length - i, 512));
    out.push(all.subarray(i, i + n));
    i += n;
  }
  return out;
}

/** `count` sessions from the seed, generated lazily in batches. */
export function* sessions(seed: number, count: number, signer?: Signer, batch = 500): Generator<Session> {
  for (let made = 0, round = 0; made < count; round++) {
    const plans = fc.sample(sessionPlan, { numRuns: Math.min(batch, count - made), seed: seed + round });
    for (const plan of plans) {
      made++;
      yield sessionOf(plan, signer);
    }
  }
}
