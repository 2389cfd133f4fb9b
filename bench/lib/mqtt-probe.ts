/** One QoS 1 PUBLISH on a fresh connection: did the bridge acknowledge it (stored in RocketMQ)? */
import { connect } from 'node:net';
import mqttPacket, { type Packet } from 'mqtt-packet';

export function tryPublish(port: number, clientId: string, topic: string, timeoutMs = 2000): Promise<boolean> {
  return new Promise((resolve) => {
    const socket = connect({ host: '127.0.0.1', port });
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
