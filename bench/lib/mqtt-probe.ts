/** One request on a fresh MQTT connection, answered or not: how the benchmarks ask a bridge whether it serves a topic. */
import { connect } from 'node:net';
import mqttPacket, { type Packet } from 'mqtt-packet';

interface Probe<T> {
  /** Sent after a successful CONNACK. */
  request: Parameters<typeof mqttPacket.generate>[0];
  /** The answer when this packet is the one awaited, else undefined (keep waiting). */
  answer(packet: Packet): T | undefined;
}

function probe<T>(host: string, port: number, clientId: string, timeoutMs: number, p: Probe<T>): Promise<T | undefined> {
  return new Promise((resolve) => {
    const socket = connect({ host, port });
    const parser = mqttPacket.parser({ protocolVersion: 4 });
    let settled = false;
    const finish = (result: T | undefined) => {
      if (settled) return;
      settled = true;
      clearTimeout(timer);
      socket.destroy();
      resolve(result);
    };
    const timer = setTimeout(() => finish(undefined), timeoutMs);
    parser.on('packet', (packet: Packet) => {
      if (packet.cmd === 'connack') {
        if (packet.returnCode !== 0) return finish(undefined);
        socket.write(mqttPacket.generate(p.request));
        return;
      }
      const result = p.answer(packet);
      if (result !== undefined) finish(result);
    });
    socket.on('data', (d) => parser.parse(d));
    socket.on('error', () => finish(undefined));
    socket.on('close', () => finish(undefined));
    socket.on('connect', () => socket.write(mqttPacket.generate({ cmd: 'connect', protocolId: 'MQTT', protocolVersion: 4, clean: true, clientId, keepalive: 30 })));
  });
}

/** One QoS 1 PUBLISH: did the bridge acknowledge it (stored in RocketMQ)? */
export async function tryPublish(port: number, clientId: string, topic: string, timeoutMs = 2000, host = '127.0.0.1'): Promise<boolean> {
  const request: Probe<boolean>['request'] = { cmd: 'publish', topic, payload: Buffer.from('probe'), qos: 1, messageId: 1, retain: false, dup: false };
  return (await probe(host, port, clientId, timeoutMs, { request, answer: (p) => (p.cmd === 'puback' ? true : undefined) })) === true;
}

/** One SUBSCRIBE (QoS 1): the SUBACK's return code (128: refused), or undefined without one. */
export function trySubscribe(port: number, clientId: string, filter: string, timeoutMs = 2000, host = '127.0.0.1'): Promise<number | undefined> {
  const request: Probe<number>['request'] = { cmd: 'subscribe', messageId: 1, subscriptions: [{ topic: filter, qos: 1 }] };
  return probe(host, port, clientId, timeoutMs, { request, answer: (p) => (p.cmd === 'suback' ? (p.granted[0] as number) : undefined) });
}
