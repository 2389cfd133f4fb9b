#!/usr/bin/env node
/** Shows one message each way through the running demo bridge, with its RocketMQ properties. */
import mqtt from 'mqtt';
import { Producer, SimpleConsumer } from 'rocketmq-client-nodejs';

const endpoints = process.env.DEMO_ROCKETMQ ?? '127.0.0.1:18081';
const mqttPort = Number(process.env.DEMO_MQTT_PORT ?? 1883);
const silent = { info() {}, warn() {}, error() {}, debug() {} };
const deviceId = 'GID_demo@@@device-1';
const bridgeHttp = Number(process.env.DEMO_BRIDGE_HTTP_PORT ?? 19090);

/**
 * A binding is Bound once it is in the bridge's ConfigMap; the pod picks the file up on its next
 * poll (in a cluster, after the kubelet's next ConfigMap sync). Wait for the pod itself.
 */
async function waitForBindings(count: number): Promise<void> {
  const deadline = Date.now() + 60_000;
  for (let said = false; ; said = true) {
    const text = await fetch(`http://127.0.0.1:${bridgeHttp}/metrics`).then((r) => r.text(), () => '');
    if (Number(/^mqbridge_bindings (\d+)/m.exec(text)?.[1] ?? 0) >= count) return;
    if (Date.now() > deadline) throw new Error(`the bridge pod did not load ${count} bindings within 60 s`);
    if (!said) console.log(`   waiting for the bridge pod to load the ${count} bindings from its ConfigMap`);
    await new Promise((r) => setTimeout(r, 200));
  }
}

function table(props: Map<string, string>): string {
  return [...props].map(([k, v]) => `      ${k.padEnd(18)} ${v}`).join('\n');
}

async function main() {
  await waitForBindings(2);
  const app = new SimpleConsumer({ endpoints, namespace: '', logger: silent, consumerGroup: 'demo-app', subscriptions: new Map([['DEMO_SENSORS', '*']]), awaitDuration: 5_000 });
  await app.startup();
  const producer = new Producer({ endpoints, namespace: '', logger: silent });
  await producer.startup();
  const device = await mqtt.connectAsync({ host: '127.0.0.1', port: mqttPort, clientId: deviceId, protocolVersion: 4 });
  await device.subscribeAsync('commands/#', { qos: 1 });

  console.log(`\n① MQTT → RocketMQ: device ${deviceId} publishes sensors/room1/temp "21.5" (QoS 1)`);
  const t0 = Date.now();
  await device.publishAsync('sensors/room1/temp', '21.5', { qos: 1 });
  console.log(`   PUBACK after ${Date.now() - t0} ms (sent only once RocketMQ stored the message)`);
  const deadline = Date.now() + 30_000;
  for (;;) {
    const [m] = (await app.receive(1, 30_000)).filter((m) => m.properties.get('clientId') === deviceId);
    if (m) {
      console.log(`   the application receives from RocketMQ topic ${m.topic}: "${m.body.toString()}"\n${table(m.properties)}`);
      await app.ack(m);
      break;
    }
    if (Date.now() > deadline) throw new Error('the message did not arrive in RocketMQ');
  }

  console.log('\n② RocketMQ → MQTT: the application sends "22.0" to DEMO_COMMANDS with mqttSecondTopic=/device-1/setpoint');
  const received = new Promise<string>((resolve) => device.once('message', (topic, payload, packet) => resolve(`${topic} "${payload.toString()}" (QoS ${packet.qos})`)));
  await producer.send({ topic: 'DEMO_COMMANDS', body: Buffer.from('22.0'), properties: new Map([['mqttSecondTopic', '/device-1/setpoint'], ['qoslevel', '1']]) });
  console.log(`   the device receives ${await withTimeout(received)}`);

  console.log(`\n③ P2P: the application sends "reboot" with mqttSecondTopic=/p2p/${deviceId} (no subscription needed)`);
  const p2p = new Promise<string>((resolve) => device.once('message', (topic, payload) => resolve(`${topic} "${payload.toString()}"`)));
  await producer.send({ topic: 'DEMO_COMMANDS', body: Buffer.from('reboot'), properties: new Map([['mqttSecondTopic', `/p2p/${deviceId}`]]) });
  console.log(`   the device receives ${await withTimeout(p2p)}`);

  await device.endAsync();
  await Promise.all([app.shutdown(), producer.shutdown()]);
}

function withTimeout<T>(p: Promise<T>, ms = 30_000): Promise<T> {
  return Promise.race([p, new Promise<T>((_, reject) => setTimeout(() => reject(new Error('timed out')), ms))]);
}

main().then(
  () => process.exit(0),
  (err: unknown) => {
    console.error(`demo failed: ${(err as Error).message}`);
    process.exit(1);
  },
);
