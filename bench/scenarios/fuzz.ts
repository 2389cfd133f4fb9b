/**
 * fuzz: generated and mutated MQTT packets (bench/fuzz/packets.ts) from many connections, over
 * TCP and WebSocket, at one bridge process with Redis and RocketMQ, while two well-behaved
 * devices (TCP and WebSocket) keep making QoS 1 round trips through RocketMQ. It fails when the
 * bridge crashes, reports an uncaught exception or unhandled rejection, stops answering
 * /readyz, or a round trip of the well-behaved devices fails; it reports the peak RSS and the
 * count per refusal reason.
 */
import { mkdtempSync, writeFileSync } from 'node:fs';
import { connect, type Socket } from 'node:net';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import mqtt, { type MqttClient } from 'mqtt';
import WebSocket from 'ws';
import { signatureFor } from '../../bridge/auth/signature.js';
import { issueToken } from '../../bridge/auth/token.js';
import { sessions, FUZZ_PARENT, type Session, type Signer } from '../fuzz/packets.js';
import { startBridge, type RunningBridge } from '../env/bridge.js';
import { loopbackHosts } from '../loadgen/index.js';
import { fmt, machine, packageVersion, printTable, writeResult } from '../lib/output.js';
import { sleep } from '../lib/proc.js';
import { REDIS_URL, ROCKETMQ_ENDPOINT, startBackends, stopBackends } from './scale-out-env.js';
import { freePort } from './brokers.js';

const TOPIC = 'BENCH_FUZZ';
const INSTANCE = 'fuzz-instance';
const AK = 'AK_FUZZ';
const SECRET = 'fuzz-secret-6c1d9a';
const GROUP = 'BENCH_FUZZ_BRIDGE';
const log = (s: string) => process.stderr.write(`[fuzz] ${s}\n`);

interface Canary {
  name: string;
  roundTrips: number;
  failures: number;
  maxMs: number;
  stop(): Promise<void>;
}

export async function run(opts: { quick: boolean }): Promise<void> {
  const params = {
    packets: Number(process.env.BENCH_FUZZ_PACKETS ?? (opts.quick ? 20_000 : 1_000_000)),
    seed: Number(process.env.BENCH_FUZZ_SEED ?? 20261201),
    concurrency: 64,
    /** How long a session waits for the bridge before it closes (or the bridge closed it). */
    lingerMs: 30,
  };
  await startBackends(log, { topics: [`${TOPIC}:NORMAL`], groups: [GROUP] });
  const [mqttPort, wsPort, httpPort] = [await freePort(), await freePort(), await freePort()];
  let bridge: RunningBridge | undefined;
  try {
    bridge = await startBridge({
      name: 'bench-fuzz',
      mqttPort,
      httpPort,
      endpoints: ROCKETMQ_ENDPOINT,
      consumerGroup: GROUP,
      bindings: [{ mqttParentTopic: FUZZ_PARENT, rocketmqTopic: TOPIC, direction: 'Bidirectional' }],
      extra: {
        websocket: { enabled: true, host: '0.0.0.0', port: wsPort },
        // Logins are checked (the generator signs most of them): the sessions get past CONNECT and meet the rights.
        auth: { mode: 'SignatureOrToken', instanceId: INSTANCE, accessKeysDir: keysDir(), maxFailuresPerMinute: 1_000_000, tokenApi: { enabled: false } },
        sessionStore: { redis: { url: REDIS_URL, keyPrefix: 'bench:fuzz:' }, sessionExpirySeconds: 60, expirySweepMs: 5_000 },
      },
    });
    const result = await campaign(bridge, { mqttPort, wsPort, httpPort }, params);
    report(result, params, opts.quick);
    const problems = verdict(result);
    if (problems.length > 0) throw new Error(`fuzz: ${problems.join('; ')}`);
  } finally {
    await bridge?.stop();
    await stopBackends();
  }
}

function keysDir(): string {
  const dir = mkdtempSync(join(tmpdir(), 'mqbridge-fuzz-keys-'));
  writeFileSync(join(dir, AK), SECRET);
  return dir;
}

const signer: Signer = (kind, clientId, resources) => {
  if (kind === 'signature') return { username: `Signature|${AK}|${INSTANCE}`, password: Buffer.from(signatureFor(SECRET, clientId)) };
  const { token } = issueToken({ accessKeyId: AK, secret: SECRET, resources, actions: ['R', 'W'], ttlSeconds: 3600, now: Math.floor(Date.now() / 1000) });
  return { username: `Token|${AK}|${INSTANCE}`, password: Buffer.from(`RW|${token}`) };
};

interface Ports {
  mqttPort: number;
  wsPort: number;
  httpPort: number;
}

interface Result {
  packets: number;
  sessions: number;
  websocketSessions: number;
  seconds: number;
  rss: { startMb: number; peakMb: number; endMb: number };
  /** The lowest V8 heap in use seen in the first and in the last quarter of the run: live memory, roughly; a leak makes the second grow. */
  heapUsed: { firstQuarterLowMb: number; lastQuarterLowMb: number; peakMb: number };
  notReadySamples: number;
  bridgeExited: boolean;
  canaries: Omit<Canary, 'stop'>[];
  refusals: Record<string, number>;
  connects: Record<string, number>;
  errors: Record<string, number>;
  authFailures: Record<string, number>;
}

async function campaign(bridge: RunningBridge, ports: Ports, params: { packets: number; seed: number; concurrency: number; lingerMs: number }): Promise<Result> {
  const hosts = loopbackHosts(8);
  const canaries = [await canary('tcp', `mqtt://127.0.0.1:${ports.mqttPort}`), await canary('websocket', `ws://127.0.0.1:${ports.wsPort}/mqtt`)];
  const rss = { start: bridge.rssBytes(), peak: 0 };
  let notReady = 0;
  let exited = false;
  const sampler = setInterval(() => {
    const now = bridge.rssBytes();
    if (Number.isNaN(now)) exited = true;
    else rss.peak = Math.max(rss.peak, now);
    void fetch(`http://127.0.0.1:${ports.httpPort}/readyz`).then(
      (r) => (r.ok ? undefined : notReady++),
      () => notReady++,
    );
  }, 250);
  const heap: { at: number; mb: number }[] = [];
  const heapSampler = setInterval(() => void heapUsedMb(ports.httpPort).then((mb) => heap.push({ at: Date.now(), mb }), () => undefined), 1_000);

  const t0 = Date.now();
  let sent = 0;
  let count = 0;
  let websocket = 0;
  const generator = sessions(params.seed, Number.MAX_SAFE_INTEGER, signer);
  const lane = async () => {
    while (sent < params.packets && !exited) {
      const session = generator.next().value as Session;
      const host = hosts[count % hosts.length]!;
      count++;
      sent += session.packets;
      if (session.websocket) websocket++;
      await (session.websocket ? overWebSocket(host, ports.wsPort, session, params.lingerMs) : overTcp(host, ports.mqttPort, session, params.lingerMs));
      if (count % 5_000 === 0) log(`${fmt(sent)} packets in ${fmt(count)} sessions, bridge RSS ${fmt(bridge.rssBytes() / 2 ** 20)} MB`);
    }
  };
  await Promise.all(Array.from({ length: params.concurrency }, lane));
  const seconds = (Date.now() - t0) / 1000;
  await sleep(2_000); // the canaries go on a little after the storm
  clearInterval(sampler);
  clearInterval(heapSampler);
  for (const c of canaries) await c.stop();
  const metrics = await scrape(ports.httpPort);
  return {
    packets: sent,
    sessions: count,
    websocketSessions: websocket,
    seconds,
    rss: { startMb: rss.start / 2 ** 20, peakMb: rss.peak / 2 ** 20, endMb: bridge.rssBytes() / 2 ** 20 },
    heapUsed: heapSummary(heap, t0, t0 + seconds * 1000),
    notReadySamples: notReady,
    bridgeExited: exited,
    canaries: canaries.map(({ stop: _stop, ...c }) => c),
    refusals: metrics.by('mqbridge_refusals_total', 'reason'),
    connects: metrics.by('mqbridge_mqtt_connects_total', 'result'),
    errors: metrics.by('mqbridge_errors_total', 'component'),
    authFailures: metrics.by('mqbridge_auth_failures_total', 'reason'),
  };
}

async function heapUsedMb(httpPort: number): Promise<number> {
  const text = await (await fetch(`http://127.0.0.1:${httpPort}/metrics`)).text();
  const line = text.split('\n').find((l) => l.startsWith('mqbridge_process_nodejs_heap_size_used_bytes '));
  if (!line) throw new Error('no heap metric');
  return Number(line.split(' ')[1]) / 2 ** 20;
}

function heapSummary(samples: readonly { at: number; mb: number }[], start: number, end: number): Result['heapUsed'] {
  const quarter = (end - start) / 4;
  const low = (from: number, to: number) => {
    const inWindow = samples.filter((s) => s.at >= from && s.at <= to).map((s) => s.mb);
    return inWindow.length > 0 ? Math.min(...inWindow) : Number.NaN;
  };
  return { firstQuarterLowMb: low(start, start + quarter), lastQuarterLowMb: low(end - quarter, end), peakMb: Math.max(...samples.map((s) => s.mb)) };
}

/** One connection, whatever carries it. */
interface Wire {
  send(chunk: Buffer): void;
  open(): boolean;
  /** The first bytes from the bridge (a CONNACK, or nothing before it closes). */
  answered: Promise<void>;
}

/** Sends a session's chunks: after a handshake CONNECT it waits for the answer, as clients do. */
async function play(wire: Wire, session: Session): Promise<void> {
  for (const [i, chunk] of session.chunks.entries()) {
    if (!wire.open()) return;
    wire.send(chunk);
    if (i === 0 && session.handshake) await Promise.race([wire.answered, sleep(1_000)]);
    else if (session.chunks.length > 1) await new Promise((r) => setImmediate(r));
  }
}

function once(f: () => void): () => void {
  let done = false;
  return () => {
    if (done) return;
    done = true;
    f();
  };
}

function overTcp(host: string, port: number, session: Session, lingerMs: number): Promise<void> {
  return new Promise((resolve) => {
    const socket: Socket = connect({ host, port });
    const end = once(() => (socket.destroy(), resolve()));
    socket.on('error', end).on('close', end).on('data', () => undefined);
    const answered = new Promise<void>((r) => socket.once('data', () => r()));
    socket.once('connect', () => void play({ send: (c) => socket.write(c), open: () => !socket.destroyed, answered }, session).then(() => setTimeout(end, lingerMs)));
  });
}

function overWebSocket(host: string, port: number, session: Session, lingerMs: number): Promise<void> {
  return new Promise((resolve) => {
    const ws = new WebSocket(`ws://${host}:${port}/mqtt`, ['mqtt']);
    const end = once(() => (ws.terminate(), resolve()));
    ws.on('error', end).on('close', end);
    const answered = new Promise<void>((r) => ws.once('message', () => r()));
    ws.once('open', () => void play({ send: (c) => ws.send(c), open: () => ws.readyState === WebSocket.OPEN, answered }, session).then(() => setTimeout(end, lingerMs)));
  });
}

/** A well-behaved device: a persistent session making QoS 1 round trips (device → RocketMQ → itself) every 250 ms. */
async function canary(name: string, url: string): Promise<Canary> {
  const clientId = `GID_fuzz@@@canary-${name}`;
  const login = { username: `Signature|${AK}|${INSTANCE}`, password: signatureFor(SECRET, clientId) };
  const client: MqttClient = await mqtt.connectAsync(url, { clientId, ...login, clean: false, protocolVersion: 4, reconnectPeriod: 1_000, connectTimeout: 10_000 });
  client.on('error', () => undefined);
  await client.subscribeAsync(`${FUZZ_PARENT}/canary/${name}/#`, { qos: 1 });
  const state: Canary = { name, roundTrips: 0, failures: 0, maxMs: 0, stop: async () => undefined };
  const waiting = new Map<string, (ms: number) => void>();
  client.on('message', (_t, payload) => waiting.get(payload.toString())?.(0));
  let stopped = false;
  const loop = (async () => {
    for (let n = 0; !stopped; n++) {
      const marker = `${name}-${n}`;
      const t0 = Date.now();
      const arrived = new Promise<boolean>((resolve) => {
        const timer = setTimeout(() => resolve(false), 10_000);
        waiting.set(marker, () => (clearTimeout(timer), resolve(true)));
      });
      const ok = await client.publishAsync(`${FUZZ_PARENT}/canary/${name}/${n}`, marker, { qos: 1 }).then(() => arrived, () => false);
      waiting.delete(marker);
      if (ok) {
        state.roundTrips++;
        state.maxMs = Math.max(state.maxMs, Date.now() - t0);
      } else state.failures++;
      await sleep(250);
    }
  })();
  state.stop = async () => {
    stopped = true;
    await loop;
    await client.endAsync(true);
  };
  return state;
}

async function scrape(httpPort: number) {
  const text = await (await fetch(`http://127.0.0.1:${httpPort}/metrics`)).text();
  return {
    by(name: string, label: string): Record<string, number> {
      const out: Record<string, number> = {};
      for (const line of text.split('\n')) {
        if (!line.startsWith(`${name}{`)) continue;
        const value = new RegExp(`${label}="([^"]*)"`).exec(line)?.[1] ?? '';
        out[value] = (out[value] ?? 0) + Number(line.split(' ').pop());
      }
      return out;
    },
  };
}

function verdict(r: Result): string[] {
  const problems: string[] = [];
  if (r.bridgeExited) problems.push('the bridge process exited');
  if ((r.errors.uncaught ?? 0) > 0) problems.push(`${r.errors.uncaught} uncaught exceptions or unhandled rejections`);
  if (r.notReadySamples > 0) problems.push(`/readyz failed ${r.notReadySamples} times`);
  for (const c of r.canaries) if (c.failures > 0 || c.roundTrips === 0) problems.push(`the ${c.name} device failed ${c.failures} of ${c.roundTrips + c.failures} round trips`);
  return problems;
}

function report(r: Result, params: { packets: number; seed: number; concurrency: number }, quick: boolean): void {
  printTable(
    ['packets', 'sessions (ws)', 'seconds', 'packets/s', 'RSS start / peak / end', 'heap low 1st / last quarter', 'bridge alive', 'uncaught', '/readyz failures'],
    [[fmt(r.packets), `${fmt(r.sessions)} (${fmt(r.websocketSessions)})`, r.seconds.toFixed(1), fmt(r.packets / r.seconds), `${fmt(r.rss.startMb)} / ${fmt(r.rss.peakMb)} / ${fmt(r.rss.endMb)} MB`, `${fmt(r.heapUsed.firstQuarterLowMb)} / ${fmt(r.heapUsed.lastQuarterLowMb)} MB`, String(!r.bridgeExited), String(r.errors.uncaught ?? 0), String(r.notReadySamples)]],
  );
  printTable(['well-behaved device', 'round trips', 'failed', 'slowest'], r.canaries.map((c) => [c.name, fmt(c.roundTrips), fmt(c.failures), `${c.maxMs} ms`]));
  const rows = Object.entries(r.refusals).sort((a, b) => b[1] - a[1]).map(([reason, n]) => [reason, fmt(n)]);
  printTable(['refusal reason', 'count'], rows);
  printTable(['CONNACK result', 'count'], Object.entries(r.connects).sort((a, b) => b[1] - a[1]).map(([k, n]) => [k, fmt(n)]));
  writeResult('fuzz', quick, {
    machine: machine(),
    versions: { aedes: packageVersion('aedes'), 'mqtt-packet': packageVersion('mqtt-packet'), 'fast-check': packageVersion('fast-check') },
    params,
    result: r,
  });
}
