/**
 * A forked process that produces to or consumes from RocketMQ with rocketmq-client-nodejs:
 * the direct-client baseline, and the application side of the downlink and P2P scenarios.
 * Bodies carry the send time in bytes 0..7 (float64 µs, shared clock) like the MQTT load.
 */
import { Producer, SimpleConsumer, type MessageView } from 'rocketmq-client-nodejs';
import { clockFrom } from '../lib/clock.js';
import { Histogram } from '../lib/histogram.js';
import type { RmqCommand, RmqConfig, RmqConsumeConfig, RmqProduceConfig, RmqReply, RmqStats } from './protocol.js';

// The client would otherwise write log files under the home directory.
const quiet = { info: () => undefined, warn: () => undefined, error: () => undefined, debug: () => undefined, close: () => undefined };

let now: () => number = () => Date.now() * 1000;
const latency = new Histogram();
let sent = 0;
let received = 0;
let errors: string[] = [];
let markUs = 0;
let markCpu = process.cpuUsage();
let running = false;
let producer: Producer | undefined;
let consumer: SimpleConsumer | undefined;
let loops: Promise<void>[] = [];

const reply = (r: RmqReply) => process.send?.(r);
const note = (e: unknown) => {
  if (errors.length < 5) errors.push(e instanceof Error ? e.message : String(e));
};
const sleep = (ms: number) => new Promise((r) => setTimeout(r, ms));

async function setup(cfg: RmqConfig): Promise<void> {
  now = clockFrom(cfg.anchor);
  if (cfg.role === 'produce') {
    producer = new Producer({ endpoints: cfg.endpoints, namespace: '', topics: [cfg.topic], logger: quiet });
    await producer.startup();
    // The first send fetches the route; keep it out of the measurements.
    await producer.send({ topic: cfg.topic, body: Buffer.alloc(cfg.payloadBytes) });
  } else {
    consumer = new SimpleConsumer({
      endpoints: cfg.endpoints,
      namespace: '',
      consumerGroup: cfg.group,
      subscriptions: new Map([[cfg.topic, '*']]),
      awaitDuration: cfg.longPollingMs,
      logger: quiet,
    });
    await consumer.startup();
    running = true;
    loops = Array.from({ length: cfg.receivers }, () => consumeLoop(cfg));
  }
}

function produceLoops(cfg: RmqProduceConfig, rate: number): Promise<void>[] {
  const props = Object.entries(cfg.properties ?? {});
  const targets = cfg.targets ?? [];
  let next = 0;
  const started = now();
  let issued = 0;
  const one = async (): Promise<void> => {
    const body = Buffer.alloc(cfg.payloadBytes);
    const target = targets.length ? targets[next++ % targets.length]! : '';
    const properties = new Map(props.map(([k, v]) => [k, v.replace('{target}', target)]));
    const t0 = now();
    body.writeDoubleLE(t0, 0);
    await producer!.send({ topic: cfg.topic, body, properties });
    latency.record(now() - t0);
    sent++;
  };
  return Array.from({ length: cfg.concurrency }, async () => {
    while (running) {
      if (rate > 0) {
        // Steady: take the next slot of the schedule; wait for it if it lies ahead.
        const due = started + (issued++ * 1e6) / rate;
        // In short naps, so a halt is not held up by a loop whose slot lies seconds ahead.
        while (running && due - now() > 1000) await sleep(Math.min(50, (due - now()) / 1000));
        if (!running) return;
      }
      try {
        await one();
      } catch (e) {
        note(e);
        await sleep(10);
      }
    }
  });
}

async function consumeLoop(cfg: RmqConsumeConfig): Promise<void> {
  while (running) {
    let messages: MessageView[];
    try {
      messages = await consumer!.receive(cfg.batchSize, cfg.invisibleDurationMs);
    } catch (e) {
      if (running) note(e);
      await sleep(50);
      continue;
    }
    const t = now();
    for (const m of messages) {
      received++;
      if (m.body.length >= 8) latency.record(t - m.body.readDoubleLE(0));
    }
    await Promise.all(messages.map((m) => consumer!.ack(m).catch(note)));
  }
}

function collect(): RmqStats {
  const cpu = process.cpuUsage(markCpu);
  return { sent, received, elapsedUs: now() - markUs, cpuUserUs: cpu.user, cpuSystemUs: cpu.system, latency: latency.toJSON(), errors: errors.slice() };
}

let config: RmqConfig;
process.on('message', (cmd: RmqCommand) => {
  switch (cmd.type) {
    case 'setup':
      config = cmd.config;
      setup(config).then(
        () => reply({ type: 'ready' }),
        (e: Error) => reply({ type: 'error', message: e.message }),
      );
      break;
    case 'start':
      running = true;
      if (config.role === 'produce') loops = produceLoops(config, cmd.rate);
      break;
    case 'halt':
      running = false;
      // A consumer may sit in a long poll for seconds; only producers are waited for.
      if (config.role === 'consume') reply({ type: 'halted' });
      else void Promise.allSettled(loops).then(() => reply({ type: 'halted' }));
      break;
    case 'mark':
      sent = 0;
      received = 0;
      errors = [];
      latency.reset();
      markUs = now();
      markCpu = process.cpuUsage();
      break;
    case 'collect':
      reply({ type: 'stats', stats: collect() });
      break;
    case 'exit':
      running = false;
      void Promise.race([Promise.allSettled([producer?.shutdown(), consumer?.shutdown()]), sleep(2000)]).then(() => process.exit(0));
  }
});
process.on('disconnect', () => process.exit(0));
