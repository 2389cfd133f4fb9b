import mqtt, { type IClientOptions, type MqttClient } from 'mqtt';
import { trackClient } from './open-clients.js';

export interface Received {
  topic: string;
  payload: Buffer;
  qos: number;
}

/** A device: MQTT.js connected to the bridge; collects what it receives. */
export class Device {
  readonly received: Received[] = [];

  private constructor(readonly client: MqttClient) {
    client.on('message', (topic, payload, packet) => this.received.push({ topic, payload, qos: packet.qos }));
  }

  static async connect(port: number, options: IClientOptions = {}): Promise<Device> {
    const client = trackClient(mqtt.connect({ host: '127.0.0.1', port, protocolVersion: 4, reconnectPeriod: 0, connectTimeout: 10_000, ...options }));
    try {
      await new Promise<void>((resolve, reject) => {
        client.once('connect', () => resolve());
        client.once('error', reject);
        client.once('close', () => reject(new Error('connection closed before CONNACK')));
      });
    } catch (err) {
      client.end(true);
      throw err;
    }
    client.removeAllListeners('error');
    client.on('error', () => undefined);
    return new Device(client);
  }

  get connected(): boolean {
    return this.client.connected;
  }

  /** Resolves with the granted QoS, or 128 when the server refused the filter. */
  async subscribe(filter: string, qos: 0 | 1 | 2 = 1): Promise<number> {
    try {
      const granted = await this.client.subscribeAsync(filter, { qos });
      return granted[0]!.qos;
    } catch (err) {
      const granted = (err as { packet?: { granted?: number[] } }).packet?.granted;
      if (granted) return granted[0]!;
      throw err;
    }
  }

  /** One SUBSCRIBE with every filter; resolves with the SUBACK's return codes, in order. */
  async subscribeMany(filters: string[], qos: 0 | 1 | 2 = 1): Promise<number[]> {
    const request = Object.fromEntries(filters.map((f) => [f, { qos }]));
    try {
      return (await this.client.subscribeAsync(request)).map((g) => g.qos);
    } catch (err) {
      const granted = (err as { packet?: { granted?: number[] } }).packet?.granted;
      if (granted) return granted;
      throw err;
    }
  }

  publish(topic: string, payload: Buffer | string, qos: 0 | 1 | 2 = 1): Promise<unknown> {
    return this.client.publishAsync(topic, payload, { qos });
  }

  waitClosed(timeoutMs = 10_000): Promise<void> {
    if (!this.client.connected) return Promise.resolve();
    return new Promise((resolve, reject) => {
      const timer = setTimeout(() => reject(new Error('still connected')), timeoutMs);
      this.client.once('close', () => {
        clearTimeout(timer);
        resolve();
      });
    });
  }

  async end(): Promise<void> {
    await this.client.endAsync(true);
  }
}
