import { Redis } from 'ioredis';
import type { Bridge } from '../../bridge/bridge.js';
import { channelOf } from '../../bridge/redis/channels.js';
import { decodeEnvelope } from '../../bridge/redis/emitter.js';
import { TestKeys } from './support/auth.js';
import { metricValue, startBridge } from './support/bridge.js';
import { podsSpec, startPods } from './support/cluster.js';
import { GROUPS, REDIS_URL, TOPICS, sleep, uniqueId, waitFor } from './support/env.js';
import { Device } from './support/mqtt.js';

/**
 * What one device may never see of another's traffic, on one pod in memory and on two pods
 * sharing Redis: refused SUBSCRIBE filters deliver nothing, live or from the offline queue, and
 * token uploads are never passed on.
 */
const AK = 'AK_ISO';
const OTHER_AK = 'AK_OTHER';
let keys: TestKeys;
const devices: Device[] = [];

beforeAll(async () => {
  keys = await TestKeys.create('iso-instance', { [AK]: 'iso-secret-81c2', [OTHER_AK]: 'other-secret-19fe' });
});

afterEach(async () => {
  await Promise.all(devices.splice(0).map((d) => d.end().catch(() => undefined)));
});

const BINDINGS = [
  { mqttParentTopic: 'iso', rocketmqTopic: TOPICS.isolation },
  { mqttParentTopic: 'isoup', rocketmqTopic: TOPICS.isolation, direction: 'MqttToRocketmq' },
];

interface Setup {
  pods: Bridge[];
  /** The emitter's channel prefix, with Redis. */
  channelPrefix?: string;
}

async function memorySetup(): Promise<Setup> {
  const pod = await startBridge(GROUPS.bridgeIsolation, { auth: keys.authConfig('SignatureOrToken'), bindings: BINDINGS });
  return { pods: [pod, pod] };
}

async function redisSetup(): Promise<Setup> {
  const spec = { ...podsSpec('iso', GROUPS.bridgeIsolationCluster, BINDINGS[0]!, { auth: keys.authConfig('SignatureOrToken') }), moreBindings: BINDINGS.slice(1) };
  const pods = await startPods(spec, 2);
  return { pods, channelPrefix: `it:${spec.name}:` };
}

/** A Token-mode login with unbound tokens (any client id), as Alibaba's service issues them. */
async function connect(pod: Bridge, clientId: string, resources: { r?: string[]; w?: string[] }, clean = true, ak = AK): Promise<Device> {
  const d = await Device.connect(pod.mqttPort, keys.tokenLogin(clientId, ak, tokenPassword(resources, ak), { clean }));
  devices.push(d);
  return d;
}

function tokenPassword(resources: { r?: string[]; w?: string[] }, ak = AK): string {
  return [...(resources.r ? [`R|${keys.token(ak, ['R'], resources.r)}`] : []), ...(resources.w ? [`W|${keys.token(ak, ['W'], resources.w)}`] : [])].join('|');
}

async function connectSigned(pod: Bridge, clientId: string, clean = true): Promise<Device> {
  const d = await Device.connect(pod.mqttPort, keys.signatureLogin(clientId, AK, { clean }));
  devices.push(d);
  return d;
}

/** The CONNACK error of a refused login. */
async function refusedLogin(pod: Bridge, options: Parameters<typeof Device.connect>[1]): Promise<string> {
  try {
    const d = await Device.connect(pod.mqttPort, options);
    devices.push(d);
  } catch (err) {
    return (err as Error).message;
  }
  return 'accepted';
}

describe.each([
  ['one pod, sessions in memory', memorySetup],
  ['two pods sharing Redis', redisSetup],
])('%s', (_name, setup) => {
  let env: Setup;

  beforeAll(async () => {
    env = await setup();
    await sleep(1_000);
  });

  afterAll(async () => {
    await Promise.all([...new Set(env?.pods ?? [])].map((p) => p.stop()));
  });

  test('a refused filter of a persistent session is never stored: nothing it matched is delivered, live or queued', async () => {
    const [podA, podB] = env.pods as [Bridge, Bridge];
    const m = uniqueId('m');
    const attackerId = uniqueId('GID_iso@@@attacker-');
    const victimId = uniqueId('GID_iso@@@victim-');
    const attacker = await connect(podA, attackerId, { r: [`iso/${m}/public/#`] }, false);
    const refusedFilters = ['$mqbridge/p2p/+/#', '$SYS/#', `iso/${m}/secret/#`, 'isoup/#', '#'];
    expect(await attacker.subscribeMany([`iso/${m}/public/#`, ...refusedFilters])).toEqual([1, 128, 128, 128, 128, 128]);

    // The victim has a persistent session of its own, so a P2P message to it is kept for it.
    const victim = await connect(podB, victimId, { r: [`iso/${m}/none`] }, false);
    await victim.end();
    const sender = await connect(podB, uniqueId('GID_iso@@@sender-'), { w: ['iso/#', 'isoup/#'] });
    await sender.publish(`iso/${m}/public/live`, 'allowed-live', 1);
    await attacker.end();
    const uploader = await connect(podB, uniqueId('GID_iso@@@uploader-'), { w: ['iso/#'] });
    const renewal = keys.token(AK, ['R', 'W'], ['iso/#']);
    await uploader.publish('$SYS/uploadToken', JSON.stringify({ token: renewal, type: 'RW' }), 1);
    await sender.publish(`iso/p2p/${victimId}`, 'for-the-victim-only', 1);
    await sender.publish(`iso/${m}/secret/x`, 'outside-its-rights', 1);
    await sender.publish(`isoup/${m}`, 'uplink-only-binding', 1);
    await sender.publish(`iso/${m}/public/queued`, 'allowed-queued', 1);
    await sleep(500);

    const back = await connect(podB, attackerId, { r: [`iso/${m}/public/#`] }, false);
    await waitFor('the queued allowed message', () => back.received.find((r) => r.payload.toString() === 'allowed-queued'), 15_000);
    await sleep(1_500);
    const seen = [...attacker.received, ...back.received].map((r) => `${r.topic} ${r.payload.toString()}`);
    expect(seen.sort()).toEqual([`iso/${m}/public/live allowed-live`, `iso/${m}/public/queued allowed-queued`]);
    expect(seen.join('\n')).not.toContain(renewal);
  });

  test('a login with another credential can neither kick a connected client id nor resume or wipe its persistent session', async () => {
    const [podA, podB] = env.pods as [Bridge, Bridge];
    const victimId = uniqueId('GID_iso@@@owner-');
    // The owner logs in with a Signature (its key vouches for its id), keeps a persistent session, goes offline.
    const owner = await connectSigned(podA, victimId, false);
    await owner.end();
    const sender = await connect(podB, uniqueId('GID_iso@@@sender-'), { w: ['iso/#'] });
    await sender.publish(`iso/p2p/${victimId}`, 'for-the-owner', 1);
    await sleep(300);

    const unbound = { r: ['iso/#'], w: ['iso/#'] };
    for (const clean of [false, true]) {
      // An unbound token of the same key, and any login of another key: refused, on any pod.
      expect(await refusedLogin(podB, keys.tokenLogin(victimId, AK, tokenPassword(unbound), { clean }))).toMatch(/Not authorized/);
      expect(await refusedLogin(podA, keys.tokenLogin(victimId, OTHER_AK, tokenPassword(unbound, OTHER_AK), { clean }))).toMatch(/Not authorized/);
    }
    // Connected now: the takeover is refused and the owner stays connected.
    const again = await connectSigned(podA, victimId, false);
    await waitFor('the queued P2P message', () => again.received.find((r) => r.payload.toString() === 'for-the-owner'));
    expect(await refusedLogin(podB, keys.tokenLogin(victimId, AK, tokenPassword(unbound)))).toMatch(/Not authorized/);
    await sleep(300);
    expect(again.connected).toBe(true);
    // The same credential may take over (a device reconnecting while its old connection hangs).
    const twin = await connectSigned(podB, victimId, false);
    await again.waitClosed(5_000);
    expect(twin.connected).toBe(true);
    const refusals = await Promise.all(env.pods.map((p) => metricValue(p, 'mqbridge_auth_failures_total', { reason: 'session_held_by_other_credential' })));
    expect(refusals.reduce((a, b) => a + b, 0) / (env.pods[0] === env.pods[1] ? 2 : 1)).toBe(5);
  });

  test('a token bound to no client id gets P2P messages only within its R rights; a bound one gets its own', async () => {
    const [podA, podB] = env.pods as [Bridge, Bridge];
    const plainId = uniqueId('GID_iso@@@plain-');
    const readerId = uniqueId('GID_iso@@@reader-');
    const boundId = uniqueId('GID_iso@@@bound-');
    const plain = await connect(podA, plainId, { r: ['iso/public/#'] });
    const reader = await connect(podA, readerId, { r: [`iso/p2p/${readerId}`] });
    const bound = await Device.connect(podA.mqttPort, keys.tokenLogin(boundId, AK, `R|${keys.token(AK, ['R'], ['iso/public/#'], { clientId: boundId })}`));
    devices.push(bound);
    const sender = await connect(podB, uniqueId('GID_iso@@@sender-'), { w: ['iso/#'] });
    for (const id of [plainId, readerId, boundId]) await sender.publish(`iso/p2p/${id}`, `for-${id}`, 1);
    await waitFor('P2P of the reader and the bound client', () => (reader.received.length > 0 && bound.received.length > 0 ? true : undefined));
    await sleep(500);
    expect(plain.received).toHaveLength(0);
    expect(reader.received.map((r) => r.payload.toString())).toEqual([`for-${readerId}`]);
    expect(bound.received.map((r) => r.payload.toString())).toEqual([`for-${boundId}`]);
  });

  test('a token bound to one client id cannot log in as another, and a bound login takes over its own unbound session', async () => {
    const [podA, podB] = env.pods as [Bridge, Bridge];
    const id = uniqueId('GID_iso@@@dev-');
    const boundToken = keys.token(AK, ['R', 'W'], ['iso/#'], { clientId: id });
    expect(await refusedLogin(podA, keys.tokenLogin(uniqueId('GID_iso@@@else-'), AK, `RW|${boundToken}`))).toMatch(/Not authorized/);
    const unboundSession = await connect(podA, id, { r: ['iso/#'] }, false);
    const proven = await Device.connect(podB.mqttPort, keys.tokenLogin(id, AK, `RW|${boundToken}`, { clean: false }));
    devices.push(proven);
    await unboundSession.waitClosed(5_000);
    // ...but the unbound login may not take the session back from the proven one.
    expect(await refusedLogin(podA, keys.tokenLogin(id, AK, tokenPassword({ r: ['iso/#'] }), { clean: false }))).toMatch(/Not authorized/);
  });

  test('an accepted token upload is acknowledged and passed on to nobody, not even over Redis', async () => {
    const [podA, podB] = env.pods as [Bridge, Bridge];
    const channel = env.channelPrefix ? new Redis(REDIS_URL) : undefined;
    const onChannel: string[] = [];
    if (channel) {
      channel.on('pmessageBuffer', (_p: Buffer, _c: Buffer, message: Buffer) => onChannel.push(decodeEnvelope(message)?.packet.topic ?? '?'));
      await channel.psubscribe(`${channelOf(env.channelPrefix!, '')}*`);
    }
    try {
      const device = await connect(podA, uniqueId('GID_iso@@@renew-'), { w: ['iso/#'] }, false);
      const renewal = keys.token(AK, ['R', 'W'], ['iso/#']);
      await device.publish('$SYS/uploadToken', JSON.stringify({ token: renewal, type: 'RW' }), 1);
      await device.publish('$SYS/uploadToken', JSON.stringify({ token: renewal, type: 'RW' }), 2);
      // The renewal took effect: R on iso/# now.
      expect(await device.subscribe('iso/renewed/#')).toBe(1);
      const other = await connect(podB, uniqueId('GID_iso@@@other-'), { r: ['iso/#'] }, false);
      // A plain publish does travel over Redis: the channel is the one the pods use.
      await device.publish('iso/after-renewal', 'plain', 1);
      await sleep(1_000);
      expect(other.received).toHaveLength(0);
      if (channel) {
        expect(onChannel).toContain('iso/after-renewal');
        expect(onChannel.filter((topic) => topic.includes('uploadToken'))).toEqual([]);
      }
    } finally {
      await channel?.quit();
    }
  });
});
