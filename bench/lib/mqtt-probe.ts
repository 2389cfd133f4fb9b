/** One QoS 1 PUBLISH on a fresh connection: did the bridge acknowledge it (stored in RocketMQ)? */
import { connect } from 'node:net';
import mqttPacket, { type Packet } from 'mqtt-packet';

export function tryPublish(port: number, clientId: string, topic: string, timeoutMs = 2000, host = '127.0.0.1'): Promise<boolean> {
  return new Promise((resolve) => {
    const socket = connect({ host, port });
    const parser = mqttPacket.parser({ protocolVersion: 4 });
    let settled = false;
    const finish = (ok: boolean) => {
      if (settled) return;
      settled = true;
      clearTimeout(timer);
      socket.destroy();
      resolve(ok);
    };
    const timer = setTimeout(() => finish(false), timeoutMs);
    parser.on('packet', (p: Packet) => {
      if (p.cmd === 'connack') {
        if (p.returnCode !== 0) return finish(false);
        socket.write(mqttPacket.generate({ cmd: 'publish', topic, payload: Buffer.from('probe'), qos: 1, messageId: 1, retain: false, dup: false }));
      } else if (p.cmd === 'puback') finish(true);
    });
    socket.on('data', (d) => parser.parse(d));
    socket.on('error', () => finish(false));
    socket.on('close', () => finish(false));
    socket.on('connect', () => socket.write(mqttPacket.generate({ cmd: 'connect', protocolId: 'MQTT', protocolVersion: 4, clean: true, clientId, keepalive: 30 })));
  });
}

/** One SUBSCRIBE (QoS 1) on a fresh connection: the SUBACK's return code (128: refused), or undefined without one. */
export function trySubscribe(port: number, clientId: string, filter: string, timeoutMs = 2000, host = '127.0.0.1'): Promise<number | undefined> {
  return new Promise((resolve) => {
    const socket = connect({ host, port });
    const parser = mqttPacket.parser({ protocolVersion: 4 });
    let settled = false;
    const finish = (code: number | undefined) => {
      if (settled) return;
      settled = true;
      clearTimeout(timer);
      socket.destroy();
      resolve(code);
    };
    const timer = setTimeout(() => finish(undefined), timeoutMs);
    parser.on('packet', (p: Packet) => {
      if (p.cmd === 'connack') {
        if (p.returnCode !== 0) return finish(undefined);
        socket.write(mqttPacket.generate({ cmd: 'subscribe', messageId: 1, subscriptions: [{ topic: filter, qos: 1 }] }));
      } else if (p.cmd === 'suback') finish(p.granted[0] as number);
    });
    socket.on('data', (d) => parser.parse(d));
    socket.on('error', () => finish(undefined));
    socket.on('close', () => finish(undefined));
    socket.on('connect', () => socket.write(mqttPacket.generate({ cmd: 'connect', protocolId: 'MQTT', protocolVersion: 4, clean: true, clientId, keepalive: 30 })));
  });
}
