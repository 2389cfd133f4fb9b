/**
 * scale-out: 1, 2 and 3 bridge processes of one bridge (one Redis session store, one RocketMQ,
 * one consumer group), so the cost of sharing state is a number. Per pod count, QoS 1, 64-byte
 * payloads, 6 publishing and 12 subscribing devices spread evenly over the pods:
 * - device → device and device → app: devices publish as fast as their PUBACKs allow (4 in
 *   flight per connection; the bridge sends each client's messages in order, one at a time);
 *   subscribers on every pod and an application consumer measure;
 * - app → device: an application sends with up to 16 sends in flight; the devices measure.
 * Each first as fast as it goes (max delivered/s), then at half that rate for latency: send stamp
 * in the payload (shared clock) to receipt. Backlogs drain between phases.
 */
import { mkdirSync, writeFileSync } from 'node:fs';
import os from 'node:os';
import { fileURLToPath } from 'node:url';
import { Producer, SimpleConsumer } from 'rocketmq-client-nodejs';
import { clockFrom, takeAnchor, type ClockAnchor } from '../lib/clock.js';
import { Histogram } from '../lib/histogram.js';
import { combine, loopbackHosts, Worker, type GroupStats } from '../loadgen/index.js';
import { tracedId, writeTrace, type WorkerConfig } from '../loadgen/protocol.js';
import { APP_GROUP, APP_TOPIC, ROCKETMQ_ENDPOINT, TOPIC, startBackends, startPod, stopBackends, type Pod } from './scale-out-env.js';

const PARENT = 'bnch';
const APP_PARENT = 'bnca';
const PUBLISHERS = 6;
const SUBSCRIBERS = 12;
const silent = { info() {}, warn() {}, error() {}, debug() {} };
const sleep = (ms: number) => new Promise((r) => setTimeout(r, ms));
const log = (s: string) => process.stderr.write(`[scale-out] ${s}\n`);

export interface Flow {
  deliveredPerSec: number;
  p50Us: number;
  p99Us: number;
  count: number;
}
/** Max: as fast as it goes (throughput); steady: half of that rate (latency without a growing queue). */
interface Phases {
  max: Flow;
  steady: Flow;
}
interface PodsResult {
  pods: number;
  deviceToDevice: Phases;
  deviceToApp: Phases;
  appToDevice: Phases;
  devicePublishesPerSec: { max: number; steady: number };
  appSendsPerSec: { max: number; steady: number };
  errors: string[];
}
type Params = { payloadBytes: number; warmupMs: number; measureMs: number; window: number; appInFlight: number; steadyFraction: number };

export async function run(opts: { quick: boolean }): Promise<void> {
  const params = {
    payloadBytes: 64,
    // The smoke run in npm test: two pods, short windows; the backends' start dominates it.
    podCounts: opts.quick ? [2] : [1, 2, 3],
    warmupMs: opts.quick ? 500 : 3_000,
    measureMs: opts.quick ? 1_000 : 10_000,
    window: 4,
    appInFlight: 16,
    steadyFraction: 0.5,
  };
  await startBackends(log);
  const results: PodsResult[] = [];
  try {
    for (const n of params.podCounts) {
      log(`${n} pod(s)…`);
      const pods = await Promise.all(Array.from({ length: n }, () => startPod(`bench-scale-${n}`, { device: PARENT, app: APP_PARENT })));
      try {
        results.push(await measure(pods, params));
      } finally {
        await Promise.all(pods.map((p) => p.stop()));
      }
      const r = results.at(-1)!;
      log(`  d2d max ${fmt(r.deviceToDevice.max.deliveredPerSec)}/s, steady p99 ${fmtUs(r.deviceToDevice.steady.p99Us)}; a2d max ${fmt(r.appToDevice.max.deliveredPerSec)}/s, steady p99 ${fmtUs(r.appToDevice.steady.p99Us)}`);
    }
  } finally {
    await stopBackends();
  }
  printTable(results);
  const dir = fileURLToPath(new URL('../../../bench/results/', import.meta.url));
  mkdirSync(dir, { recursive: true });
  const file = `${dir}scale-out${opts.quick ? '.quick' : ''}.json`;
  const machine = { cpus: os.cpus().length, cpuModel: os.cpus()[0]?.model, totalMemBytes: os.totalmem(), platform: `${os.platform()} ${os.release()}`, node: process.version };
  writeFileSync(file, JSON.stringify({ scenario: 'scale-out', date: new Date().toISOString(), quick: opts.quick, machine, parameters: params, results }, null, 2) + '\n');
  log(`wrote ${file}`);
}

async function measure(pods: Pod[], params: Params): Promise<PodsResult> {
  const anchor = takeAnchor();
  const base = { hosts: loopbackHosts(4), qos: 1 as const, payloadBytes: params.payloadBytes, anchor, window: params.window };
  const spread = (total: number) => pods.map((_, i) => Math.floor(total / pods.length) + (i < total % pods.length ? 1 : 0));
  const workers: Worker[] = [];
  const start = async (role: 'pub' | 'sub', topic: string, counts: number[], tag: string) =>
    Promise.all(
      counts.map(async (connections, i) => {
        const w = new Worker(`${tag}${i}`);
        workers.push(w);
        const cfg: WorkerConfig = { ...base, role, port: pods[i]!.mqttPort, topic, connections, clientIdPrefix: `GID_bench@@@${tag}${pods.length}p${i}` };
        await w.setup(cfg);
        return w;
      }),
    );
  const app = await AppSide.start(anchor);
  try {
    const subs = await start('sub', `${PARENT}/d2d`, spread(SUBSCRIBERS), 'sd');
    const pubs = await start('pub', `${PARENT}/d2d`, spread(PUBLISHERS), 'p');
    // Device publishes: each pub worker's rate is its share of the total (0 = max).
    const devicePhase = async (totalRate: number) => {
      pubs.forEach((w, i) => w.send({ type: 'publish', rate: totalRate === 0 ? 0 : Math.max(1, (totalRate * spread(PUBLISHERS)[i]!) / PUBLISHERS) }));
      await sleep(params.warmupMs);
      for (const w of [...pubs, ...subs]) w.send({ type: 'mark' });
      app.mark('/d2d');
      await sleep(params.measureMs);
      const p = combine(await Promise.all(pubs.map((w) => w.collect())));
      const d2d = flow(combine(await Promise.all(subs.map((w) => w.collect()))));
      const d2a = app.collect();
      await Promise.all(pubs.map((w) => w.request({ type: 'halt' }, 'halted')));
      await drained(subs, app);
      return { d2d, d2a, published: p.sent / p.seconds, errors: p.errors };
    };
    const dMax = await devicePhase(0);
    const dSteady = await devicePhase(dMax.published * params.steadyFraction);

    const aSubs = await start('sub', `${APP_PARENT}/a2d`, spread(SUBSCRIBERS), 'sa');
    const appPhase = async (rate: number) => {
      const sending = app.send('/a2d', params.appInFlight, params.payloadBytes, rate);
      await sleep(params.warmupMs);
      for (const w of aSubs) w.send({ type: 'mark' });
      const sent0 = app.sent;
      await sleep(params.measureMs);
      const a2d = flow(combine(await Promise.all(aSubs.map((w) => w.collect()))));
      const sentPerSec = (app.sent - sent0) / (params.measureMs / 1000);
      await app.stopSending(sending);
      await drained(aSubs);
      return { a2d, sentPerSec };
    };
    const aMax = await appPhase(0);
    // Half of what reached the devices, not of what the producer managed to send: RocketMQ takes
    // sends faster than the pods deliver them, and a growing backlog would be measured as latency.
    const aSteady = await appPhase((aMax.a2d.deliveredPerSec / SUBSCRIBERS) * params.steadyFraction);
    return {
      pods: pods.length,
      deviceToDevice: { max: dMax.d2d, steady: dSteady.d2d },
      deviceToApp: { max: dMax.d2a, steady: dSteady.d2a },
      appToDevice: { max: aMax.a2d, steady: aSteady.a2d },
      devicePublishesPerSec: { max: dMax.published, steady: dSteady.published },
      appSendsPerSec: { max: aMax.sentPerSec, steady: aSteady.sentPerSec },
      errors: [...dMax.errors, ...dSteady.errors],
    };
  } finally {
    await app.stop();
    await Promise.all(workers.map((w) => w.stop()));
  }
}

/** Waits (at most 90 s) until the subscribers and the application stop receiving: a backlog would count as the next phase's latency. */
export async function drained(subs: Worker[], app?: AppSide): Promise<void> {
  for (let quiet = 0, i = 0; quiet < 2 && i < 90; i++) {
    for (const w of subs) w.send({ type: 'mark' });
    const appSeen = app?.seen ?? 0;
    await sleep(1_000);
    const received = combine(await Promise.all(subs.map((w) => w.collect()))).received;
    quiet = received === 0 && (app?.seen ?? 0) === appSeen ? quiet + 1 : 0;
  }
}

export function flow(g: GroupStats): Flow {
  return { deliveredPerSec: g.received / g.seconds, p50Us: g.latency.percentile(50), p99Us: g.latency.percentile(99), count: g.latency.count };
}

/** The application: a RocketMQ producer and a consumer of its own group, stamping and measuring like the load generator. */
export class AppSide {
  private stopped = false;
  private loops: Promise<void>[] = [];
  private latency = new Histogram();
  private received = 0;
  private markUs = Infinity;
  private second = '';
  private sending = false;
  /** Messages the consumer got, all of them. */
  seen = 0;
  /** Messages the producer sent. */
  sent = 0;
  /** Ids of traced sends RocketMQ acknowledged, and of traced device messages the consumer got. */
  readonly sentIds: number[] = [];
  readonly receivedIds: number[] = [];

  private constructor(
    private readonly producer: Producer,
    private readonly consumer: SimpleConsumer,
    private readonly now: () => number,
  ) {}

  static async start(anchor: ClockAnchor): Promise<AppSide> {
    const common = { endpoints: ROCKETMQ_ENDPOINT, namespace: '', logger: silent };
    const producer = new Producer(common);
    const consumer = new SimpleConsumer({ ...common, consumerGroup: APP_GROUP, subscriptions: new Map([[TOPIC, '*']]), awaitDuration: 5_000 });
    await Promise.all([producer.startup(), consumer.startup()]);
    const app = new AppSide(producer, consumer, clockFrom(anchor));
    app.loops = Array.from({ length: 8 }, () => app.receiveLoop());
    return app;
  }

  mark(second: string): void {
    this.second = second;
    this.latency = new Histogram();
    this.received = 0;
    this.markUs = this.now();
  }

  collect(): Flow {
    const seconds = (this.now() - this.markUs) / 1e6;
    this.markUs = Infinity;
    return { deliveredPerSec: this.received / seconds, p50Us: this.latency.percentile(50), p99Us: this.latency.percentile(99), count: this.latency.count };
  }

  private async receiveLoop(): Promise<void> {
    while (!this.stopped) {
      const batch = await this.consumer.receive(32, 30_000).catch(() => []);
      this.seen += batch.length;
      for (const m of batch) {
        const id = tracedId(m.body);
        if (id !== undefined) this.receivedIds.push(id);
        const sentUs = m.body.length >= 8 ? m.body.readDoubleLE(0) : 0;
        if (m.properties.get('mqttSecondTopic') === this.second && sentUs >= this.markUs) {
          this.received++;
          this.latency.record(this.now() - sentUs);
        }
      }
      await Promise.all(batch.map((m) => this.consumer.ack(m).catch(() => undefined)));
    }
  }

  /**
   * Keeps up to `inFlight` sends going, paced to `rate` per second (0: as fast as they complete), until stopSending.
   * `second` may name each message's second-level topic from its number; a non-zero `tag` traces them;
   * `extra` are more of the contract's properties (e.g. `cleansessionflag`).
   */
  send(second: string | ((n: number) => string), inFlight: number, payloadBytes: number, rate: number, tag = 0, extra: Record<string, string> = {}): Promise<unknown> {
    const secondOf = typeof second === 'string' ? () => second : second;
    const t0 = this.now();
    let issued = 0;
    this.sending = true;
    const one = async () => {
      while (this.sending) {
        const n = issued++;
        const due = t0 + (n * 1e6) / (rate || Infinity);
        if (rate > 0 && due > this.now()) await sleep((due - this.now()) / 1000);
        const body = Buffer.alloc(payloadBytes);
        body.writeDoubleLE(this.now(), 0);
        if (tag) writeTrace(body, tag, n);
        const properties = new Map([['mqttSecondTopic', secondOf(n)], ['qoslevel', '1'], ...Object.entries(extra)]);
        await this.producer.send({ topic: APP_TOPIC, body, properties }).then(
          () => {
            this.sent++;
            if (tag) this.sentIds.push(tag * 2 ** 32 + n);
          },
          () => sleep(100),
        );
      }
    };
    return Promise.all(Array.from({ length: inFlight }, one));
  }

  async stopSending(sending: Promise<unknown>): Promise<void> {
    this.sending = false;
    await sending;
  }

  async stop(): Promise<void> {
    this.stopped = true;
    this.sending = false;
    await Promise.all([this.producer.shutdown(), this.consumer.shutdown()].map((p) => p.catch(() => undefined)));
    await Promise.race([Promise.all(this.loops), sleep(35_000)]);
  }
}

function fmt(n: number): string {
  return Math.round(n).toLocaleString('en-US');
}

function fmtUs(us: number): string {
  if (!Number.isFinite(us) || us <= 0) return '-';
  return us >= 10_000 ? `${(us / 1000).toFixed(0)} ms` : us >= 1000 ? `${(us / 1000).toFixed(1)} ms` : `${Math.round(us)} µs`;
}

function printTable(results: PodsResult[]): void {
  console.log('| pods | flow | max delivered/s | steady delivered/s | steady p50 | steady p99 |');
  console.log('|---|---|---|---|---|---|');
  for (const r of results) {
    for (const [name, f] of [['device → device', r.deviceToDevice], ['device → app', r.deviceToApp], ['app → device', r.appToDevice]] as const) {
      console.log(`| ${r.pods} | ${name} | ${fmt(f.max.deliveredPerSec)} | ${fmt(f.steady.deliveredPerSec)} | ${fmtUs(f.steady.p50Us)} | ${fmtUs(f.steady.p99Us)} |`);
    }
  }
}
