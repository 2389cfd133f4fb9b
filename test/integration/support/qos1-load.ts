import type { MqttClient } from 'mqtt';
import type { Producer } from 'rocketmq-client-nodejs';
import { sleep } from './env.js';
import { appSend } from './rocketmq.js';

/**
 * QoS 1 traffic both ways while pods come and go: every tick each publisher sends one message
 * to `<parent>/<marker>/up`, and the application one to its RocketMQ topic for
 * `<parent>/<marker>/down`. Records what was acknowledged (by the bridge) and what was sent
 * (stored by RocketMQ), to count losses and duplicates against afterwards.
 */
export class Qos1Load {
  readonly acked: string[] = [];
  readonly sentDown: string[] = [];
  private readonly pending: Promise<unknown>[] = [];
  private running = true;
  private readonly loop: Promise<void>;

  constructor(publishers: { client: MqttClient }[], parent: string, marker: string, app: { producer: Producer; topic: string }, everyMs = 200) {
    this.loop = (async () => {
      for (let tick = 0; this.running; tick++) {
        publishers.forEach((p, i) => {
          const payload = `up-${i}-${tick}`;
          this.track(p.client.publishAsync(`${parent}/${marker}/up`, payload, { qos: 1 }).then(() => this.acked.push(payload)));
        });
        const down = `down-${tick}`;
        this.track(appSend(app.producer, app.topic, down, { mqttSecondTopic: `/${marker}/down` }).then(() => this.sentDown.push(down)));
        await sleep(everyMs);
      }
    })();
  }

  /** A send refused by a stopping pod is no loss and is not counted; it must not surface as an unhandled rejection either. */
  private track(send: Promise<unknown>): void {
    send.catch(() => undefined);
    this.pending.push(send);
  }

  /** Stops sending; call it also when the roll fails (a loop left running would disturb the suites after this one). */
  async stop(): Promise<void> {
    this.running = false;
    await this.loop;
  }

  /** Waits up to `ms` for answers still on their way. */
  async settled(ms = 60_000): Promise<void> {
    await Promise.race([Promise.allSettled(this.pending), sleep(ms)]);
  }
}
