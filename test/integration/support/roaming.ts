import { execFile } from 'node:child_process';
import { fileURLToPath } from 'node:url';
import mqtt, { type IClientOptions, type MqttClient } from 'mqtt';
import { REDIS_URL } from './env.js';
import type { Received } from './mqtt.js';
import { trackClient } from './open-clients.js';

/**
 * A device behind a Service in front of several pods: when its connection drops it reconnects
 * to the next pod, as a device would through a load balancer. Counts its connections.
 */
export class RoamingDevice {
  readonly received: Received[] = [];
  connects = 0;

  private constructor(readonly client: MqttClient) {
    client.on('message', (topic, payload, packet) => this.received.push({ topic, payload, qos: packet.qos }));
    client.on('connect', () => this.connects++);
    client.on('error', () => undefined);
  }

  /** Connects to `ports[first]`, then goes round the list on each reconnect. */
  static connect(ports: number[], first: number, options: IClientOptions = {}): Promise<RoamingDevice> {
    const servers = [...ports.slice(first), ...ports.slice(0, first)].map((port) => ({ host: '127.0.0.1', port }));
    return RoamingDevice.connectTo(servers, options);
  }

  /** Goes round `servers` on each reconnect; one server: a Service address, reconnecting to it. */
  static async connectTo(servers: { host: string; port: number }[], options: IClientOptions = {}): Promise<RoamingDevice> {
    const client = trackClient(mqtt.connect({ servers, protocolVersion: 4, reconnectPeriod: 300, connectTimeout: 10_000, keepalive: 30, ...options }));
    const device = new RoamingDevice(client);
    let lastError: Error | undefined;
    const noteError = (err: Error) => (lastError = err);
    client.on('error', noteError);
    try {
      await new Promise<void>((resolve, reject) => {
        const timer = setTimeout(() => reject(new Error(`${options.clientId ?? 'device'}: no CONNACK within 30 s (last error: ${lastError?.message ?? 'none'})`)), 30_000);
        client.once('connect', () => (clearTimeout(timer), resolve()));
      });
    } catch (err) {
      // It would go on reconnecting after the test gave up on it.
      client.end(true);
      throw err;
    } finally {
      client.off('error', noteError);
    }
    return device;
  }

  get reconnects(): number {
    return Math.max(0, this.connects - 1);
  }

  async end(): Promise<void> {
    await this.client.endAsync(true);
  }
}

const REDIS_SCRIPT = fileURLToPath(new URL('../../../../test/env/redis.sh', import.meta.url));

/** test/env/redis.sh against the test Redis (REDIS_DIR comes from test/run.sh's environment). */
export function redisCtl(...args: string[]): Promise<string> {
  const env: NodeJS.ProcessEnv = { ...process.env, REDIS_PORT: new URL(REDIS_URL).port };
  if (!env.REDIS_DIR) throw new Error('REDIS_DIR is not set: run the tests through `npm test`, which starts Redis');
  return new Promise((resolve, reject) =>
    execFile('bash', [REDIS_SCRIPT, ...args], { env, timeout: 60_000 }, (err, stdout, stderr) => (err ? reject(new Error(`${err.message}\n${stderr}`)) : resolve(stdout))),
  );
}
