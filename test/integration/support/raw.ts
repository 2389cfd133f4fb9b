import { connect, type Socket } from 'node:net';
import mqttPacket, { type Packet } from 'mqtt-packet';

/** A hand-driven MQTT connection, for sending what well-behaved clients refuse to send. */
export class RawClient {
  readonly packets: Packet[] = [];
  readonly closed: Promise<void>;

  private constructor(readonly socket: Socket) {
    const parser = mqttPacket.parser({ protocolVersion: 4 });
    parser.on('packet', (p) => this.packets.push(p));
    socket.on('data', (d) => parser.parse(d));
    socket.on('error', () => undefined);
    this.closed = new Promise((resolve) => socket.once('close', () => resolve()));
  }

  static async open(port: number): Promise<RawClient> {
    const socket = connect({ host: '127.0.0.1', port });
    await new Promise<void>((resolve, reject) => {
      socket.once('connect', resolve);
      socket.once('error', reject);
    });
    return new RawClient(socket);
  }

  /** Opens a connection and completes CONNECT/CONNACK. */
  static async connected(port: number, clientId: string, protocolVersion: 3 | 4 | 5 = 4, clean = true): Promise<RawClient> {
    const c = await RawClient.open(port);
    c.send({ cmd: 'connect', protocolId: protocolVersion === 3 ? 'MQIsdp' : 'MQTT', protocolVersion, clean, clientId, keepalive: 60 });
    await c.next('connack');
    return c;
  }

  send(packet: Packet): void {
    this.socket.write(mqttPacket.generate(packet));
  }

  write(bytes: Buffer): void {
    this.socket.write(bytes);
  }

  async next(cmd: string, timeoutMs = 10_000): Promise<Packet> {
    const deadline = Date.now() + timeoutMs;
    for (;;) {
      const i = this.packets.findIndex((p) => p.cmd === cmd);
      if (i >= 0) return this.packets.splice(i, 1)[0]!;
      if (Date.now() > deadline) throw new Error(`no ${cmd} within ${timeoutMs} ms`);
      await new Promise((r) => setTimeout(r, 10));
    }
  }

  /** Resolves true if the server closed the connection within the time. */
  async closedWithin(ms: number): Promise<boolean> {
    return Promise.race([this.closed.then(() => true), new Promise<boolean>((r) => setTimeout(() => r(false), ms))]);
  }

  end(): void {
    this.socket.destroy();
  }
}
