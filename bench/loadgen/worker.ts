/**
 * One load-generator process: many raw-socket MQTT connections driven with mqtt-packet.
 * Publishers stamp each payload with the send time (shared-epoch microseconds, float64 LE
 * in bytes 0..7); subscribers record receive − send into a histogram.
 */
import { connect, type Socket } from 'node:net';
import mqttPacket, { type Packet } from 'mqtt-packet';
import { clockFrom } from '../lib/clock.js';
import { Histogram } from '../lib/histogram.js';
import { tracedId, writeTrace, type Command, type Reply, type Stats, type WorkerConfig } from './protocol.js';

let cfg: WorkerConfig;
let now: () => number;
const conns: Conn[] = [];
const latency = new Histogram();
const ackLatency = new Histogram();
let setupUs = 0;
let pinger: NodeJS.Timeout | undefined;
let sent = 0;
let received = 0;
let errors: string[] = [];
let markUs = 0;
let markCpu = process.cpuUsage();
let publishing = false;
let timer: NodeJS.Timeout | undefined;
let exiting = false;
const CONNECT_TIMEOUT_MS = 30_000;
let ports: number[] = [];
const reconnects = { closed: 0, reopened: 0, failedAttempts: 0, firstClosedUs: 0, lastReopenedUs: 0 };
/** Traced ids since setup (a measurement window does not reset them: a loss check spans several). */
const ackedIds: number[] = [];
const receivedIds: number[] = [];

function reply(r: Reply): void {
  process.send?.(r);
}

interface Conn {
  socket: Socket;
  inflight: number;
  nextId: number;
  /** QoS 1: send time by packet id, for the PUBACK latency. */
  sentAt: Float64Array | undefined;
  /** Traced publishers: the id sent under each packet id. */
  idAt: Float64Array | undefined;
  seq: number;
  index: number;
  waiters: Array<(p: Packet) => void>;
}

async function open(i: number, port = cfg.port): Promise<Conn> {
  const host = cfg.hosts[i % cfg.hosts.length]!;
  const socket = connect({ host, port });
  socket.setNoDelay(true);
  await new Promise<void>((resolve, reject) => {
    socket.once('connect', resolve);
    socket.once('error', reject);
  });
  const qos1Pub = cfg.role === 'pub' && cfg.qos === 1;
  const conn: Conn = { socket, inflight: 0, nextId: 1, sentAt: qos1Pub ? new Float64Array(65536) : undefined, idAt: qos1Pub && cfg.tag ? new Float64Array(65536) : undefined, seq: 0, index: i, waiters: [] };
  const parser = mqttPacket.parser({ protocolVersion: 4 });
  const acks: Buffer[] = [];
  parser.on('packet', (p: Packet) => {
    if (p.cmd === 'publish') {
      received++;
      const payload = p.payload as Buffer;
      if (payload.length >= 8) latency.record(now() - payload.readDoubleLE(0));
      if (cfg.trace) {
        const id = tracedId(payload);
        if (id !== undefined) receivedIds.push(id);
      }
      if (p.qos === 1 && p.messageId !== undefined) acks.push(Buffer.from([0x40, 0x02, p.messageId >> 8, p.messageId & 0xff]));
    } else if (p.cmd === 'puback') {
      conn.inflight--;
      if (conn.sentAt && p.messageId !== undefined) ackLatency.record(now() - conn.sentAt[p.messageId]!);
      if (conn.idAt && p.messageId !== undefined) ackedIds.push(conn.idAt[p.messageId]!);
      if (publishing && rate === 0 && conn.inflight < cfg.window && blocked) pump();
    } else if (p.cmd !== 'pingresp') {
      const w = conn.waiters.shift();
      w?.(p);
    }
  });
  parser.on('error', (e: Error) => errors.push(e.message));
  socket.on('data', (d) => {
    parser.parse(d);
    if (acks.length) socket.write(acks.length === 1 ? acks[0]! : Buffer.concat(acks.splice(0)));
    acks.length = 0;
  });
  socket.on('error', (e) => errors.push(e.message));
  let ready = false;
  socket.on('close', () => {
    if (!ready || exiting) return;
    if (publishing && !cfg.reconnect) errors.push('connection closed while publishing');
    if (cfg.reconnect) reopenLater(i);
  });
  const next = () => new Promise<Packet>((resolve, reject) => {
    conn.waiters.push(resolve);
    socket.once('close', () => reject(new Error('closed before the reply')));
  });
  const clientId = `${cfg.clientIdPrefix}-${i}`;
  // As MQTT.js' connectTimeout: a server that accepts the socket but never answers is given up on.
  const answered = setTimeout(() => socket.destroy(), CONNECT_TIMEOUT_MS);
  socket.write(mqttPacket.generate({ cmd: 'connect', protocolId: 'MQTT', protocolVersion: 4, clean: cfg.persistent !== undefined ? i >= cfg.persistent : (cfg.clean ?? true), clientId, keepalive: cfg.keepalive ?? 300 }));
  const connack = await next();
  if (connack.cmd !== 'connack' || connack.returnCode !== 0) throw new Error(`connect refused: ${JSON.stringify(connack)}`);
  const filters = cfg.role === 'sub' && cfg.subscribe !== false && !connack.sessionPresent ? filtersOf(i, clientId) : [];
  if (filters.length > 0) {
    socket.write(mqttPacket.generate({ cmd: 'subscribe', messageId: 1, subscriptions: filters.map((topic) => ({ topic, qos: cfg.qos })) }));
    const suback = await next();
    if (suback.cmd !== 'suback' || suback.granted.some((g) => g !== cfg.qos)) throw new Error(`subscribe refused: ${JSON.stringify(suback)}`);
  }
  clearTimeout(answered);
  ready = true;
  return conn;
}

function filtersOf(i: number, clientId: string): string[] {
  if (!cfg.subscriptions) return [cfg.topic];
  return cfg.subscriptions.filter((s) => s.connections === undefined || i < s.connections).map((s) => s.topic.replaceAll('{clientId}', clientId));
}

/** A device whose server went away comes back through the load balancer, after a jittered delay. */
function reopenLater(i: number): void {
  reconnects.closed++;
  reconnects.firstClosedUs ||= now();
  tryReopen(i, cfg.reconnect!.minDelayMs);
}

function tryReopen(i: number, delayMs: number): void {
  const { minDelayMs, maxDelayMs } = cfg.reconnect!;
  setTimeout(() => {
    const port = ports[Math.floor(Math.random() * ports.length)]!;
    open(i, port).then(
      (conn) => {
        conns[i] = conn;
        reconnects.reopened++;
        reconnects.lastReopenedUs = now();
      },
      () => {
        reconnects.failedAttempts++;
        tryReopen(i, Math.min(maxDelayMs, delayMs * 2));
      },
    );
  }, delayMs + Math.random() * (maxDelayMs - minDelayMs)).unref();
}

async function setup(): Promise<void> {
  now = clockFrom(cfg.anchor);
  ports = [cfg.port];
  const t0 = now();
  const concurrency = cfg.connectConcurrency ?? 64;
  for (let base = 0; base < cfg.connections; base += concurrency) {
    const batch = [];
    for (let i = base; i < Math.min(cfg.connections, base + concurrency); i++) batch.push(open(i));
    conns.push(...(await Promise.all(batch)));
  }
  setupUs = now() - t0;
  // Keep idle connections alive as a device would: a PINGREQ at half the keep-alive.
  const keepalive = cfg.keepalive ?? 300;
  const ping = Buffer.from([0xc0, 0x00]);
  pinger = setInterval(() => {
    for (const c of conns) if (c.socket.writable) c.socket.write(ping);
  }, (keepalive * 1000) / 2);
}

// ---- publishing ----
let template: Buffer;
let payloadAt = 0;
let blocked = false;
let rate = 0;
let startUs = 0;
let sentSinceStart = 0;
const HIGH_WATER = 256 * 1024;
const BATCH = 64;

function buildTemplate(): void {
  template = mqttPacket.generate({
    cmd: 'publish',
    topic: cfg.topic,
    payload: Buffer.alloc(cfg.payloadBytes),
    qos: cfg.qos,
    messageId: cfg.qos ? 1 : undefined,
    retain: false,
    dup: false,
  });
  payloadAt = template.length - cfg.payloadBytes;
}

/** Writes n messages on one connection in one buffer, each stamped now. */
function writeBatch(conn: Conn, n: number): void {
  if (!conn.socket.writable) return;
  const size = template.length;
  const buf = Buffer.allocUnsafe(size * n);
  writing = buf;
  for (let k = 0; k < n; k++) {
    const off = k * size;
    template.copy(buf, off);
    if (cfg.qos === 1) {
      buf.writeUInt16BE(conn.nextId, off + payloadAt - 2);
      conn.sentAt![conn.nextId] = now();
      if (conn.idAt) conn.idAt[conn.nextId] = tracedIdOf(conn, off);
      conn.nextId = conn.nextId === 65535 ? 1 : conn.nextId + 1;
      conn.inflight++;
    }
    buf.writeDoubleLE(now(), off + payloadAt);
    if (cfg.tag && !conn.idAt) tracedIdOf(conn, off);
  }
  sent += n;
  sentSinceStart += n;
  conn.socket.write(buf);
}

let writing: Buffer;
/** Stamps the next traced id of a connection into the payload at `off` in the batch being written. */
function tracedIdOf(conn: Conn, off: number): number {
  const tag = cfg.tag! * 65536 + conn.index;
  const seq = conn.seq++;
  writeTrace(writing.subarray(off + payloadAt), tag, seq);
  return tag * 2 ** 32 + seq;
}

let rr = 0;
/** Max-rate loop: fill every connection up to the socket high-water mark and the QoS 1 window. */
function pump(): void {
  blocked = false;
  if (!publishing) return;
  let progressed = false;
  for (let j = 0; j < conns.length; j++) {
    const conn = conns[(rr + j) % conns.length]!;
    if (conn.socket.writableLength > HIGH_WATER) continue;
    const room = cfg.qos === 1 ? Math.min(BATCH, cfg.window - conn.inflight) : BATCH;
    if (room <= 0) continue;
    writeBatch(conn, room);
    progressed = true;
  }
  rr++;
  if (progressed) setImmediate(pump);
  else {
    blocked = true; // resumed by 'drain' or PUBACK
  }
}

/** Steady-rate loop: every millisecond, send what the schedule says is due. */
function tick(): void {
  if (!publishing) return;
  const due = Math.floor(((now() - startUs) * rate) / 1e6) - sentSinceStart;
  let left = Math.min(due, 10_000);
  // Spread what is due over the connections: after a late tick, a burst on one connection
  // would queue behind itself wherever a server handles each connection in order.
  const per = Math.max(1, Math.min(BATCH, Math.ceil(left / conns.length)));
  while (left > 0) {
    const conn = conns[rr++ % conns.length]!;
    const n = Math.min(left, per);
    writeBatch(conn, n);
    left -= n;
  }
}

function startPublishing(r: number): void {
  buildTemplate();
  publishing = true;
  rate = r;
  startUs = now();
  sentSinceStart = 0;
  if (rate === 0) for (const c of conns) c.socket.on('drain', () => blocked && pump());
  if (rate > 0) timer = setInterval(tick, 1);
  else pump();
}

function halt(): void {
  publishing = false;
  if (timer) clearInterval(timer);
  timer = undefined;
  for (const c of conns) c.socket.removeAllListeners('drain');
}

function mark(): void {
  sent = 0;
  received = 0;
  errors = [];
  latency.reset();
  ackLatency.reset();
  markUs = now();
  markCpu = process.cpuUsage();
}

function collect(): Stats {
  const cpu = process.cpuUsage(markCpu);
  return { sent, received, elapsedUs: now() - markUs, cpuUserUs: cpu.user, cpuSystemUs: cpu.system, latency: latency.toJSON(), ackLatency: ackLatency.toJSON(), connections: conns.length, setupUs, errors: errors.slice(0, 5), reconnects: { ...reconnects }, ...(cfg.tag ? { ackedIds } : {}), ...(cfg.trace ? { receivedIds } : {}) };
}

process.on('message', (cmd: Command) => {
  switch (cmd.type) {
    case 'setup':
      cfg = cmd.config;
      setup().then(
        () => reply({ type: 'ready' }),
        (e: Error) => reply({ type: 'error', message: e.message }),
      );
      break;
    case 'publish':
      startPublishing(cmd.rate);
      break;
    case 'halt':
      halt();
      reply({ type: 'halted' });
      break;
    case 'mark':
      mark();
      break;
    case 'retarget':
      ports = cmd.ports;
      break;
    case 'collect':
      reply({ type: 'stats', stats: collect() });
      break;
    case 'exit':
      exiting = true;
      halt();
      if (pinger) clearInterval(pinger);
      for (const c of conns) c.socket.destroy();
      process.exit(0);
  }
});
process.on('disconnect', () => process.exit(0));
