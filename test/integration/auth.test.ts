import { execFile } from 'node:child_process';
import { mkdtemp, writeFile } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { Writable } from 'node:stream';
import { promisify } from 'node:util';
import type { IClientOptions } from 'mqtt';
import { pino } from 'pino';
import { signatureFor } from '../../bridge/auth/signature.js';
import { issueToken } from '../../bridge/auth/token.js';
import { Bridge } from '../../bridge/bridge.js';
import { metricValue, testConfig } from './support/bridge.js';
import { GROUPS, TOPICS, sleep, uniqueId, waitFor } from './support/env.js';
import { Device } from './support/mqtt.js';

const run = promisify(execFile);
const INSTANCE = 'mqtt-test-instance';
const SECRETS = { AK_ONE: 'secret-one-3f9a', AK_TWO: 'secret-two-77c1' } as const;
let keysDir: string;
let bridge: Bridge;
let logText = '';

async function authBridge(group: string, extra: Record<string, unknown> = {}): Promise<Bridge> {
  const sink = new Writable({ write: (chunk, _enc, cb) => ((logText += chunk.toString()), cb()) });
  const config = testConfig(group, {
    auth: { mode: 'SignatureOrToken', instanceId: INSTANCE, accessKeysDir: keysDir, groupAllowList: { AK_TWO: ['GID_allowed'] }, maxFailuresPerMinute: 1000, reloadPollMs: 100, tokenApi: { host: '127.0.0.1', port: 0 }, ...extra },
    bindings: [{ mqttParentTopic: 'auth', rocketmqTopic: TOPICS.down }],
  });
  const b = await Bridge.start(config, { log: pino({ level: 'debug' }, sink) });
  await waitFor('ready', () => b.readiness().ready, 60_000);
  return b;
}

beforeAll(async () => {
  keysDir = await mkdtemp(join(tmpdir(), 'mqbridge-keys-'));
  for (const [ak, secret] of Object.entries(SECRETS)) await writeFile(join(keysDir, ak), `${secret}\n`);
  bridge = await authBridge(GROUPS.bridgeTls);
});

afterAll(async () => {
  await bridge?.stop();
});

const signed = (clientId: string, ak: keyof typeof SECRETS = 'AK_ONE', secret: string = SECRETS[ak]): IClientOptions => ({
  clientId,
  username: `Signature|${ak}|${INSTANCE}`,
  password: signatureFor(secret, clientId),
});

const nowSec = () => Math.floor(Date.now() / 1000);
const token = (actions: ('R' | 'W')[], resources: string[], opts: { ttl?: number; now?: number } = {}) =>
  issueToken({ accessKeyId: 'AK_ONE', secret: SECRETS.AK_ONE, resources, actions, ttlSeconds: opts.ttl ?? 3600, now: opts.now ?? nowSec() }).token;
const tokenLogin = (clientId: string, password: string): IClientOptions => ({ clientId, username: `Token|AK_ONE|${INSTANCE}`, password });

async function connectError(options: IClientOptions, b = bridge): Promise<string> {
  try {
    const d = await Device.connect(b.mqttPort, options);
    await d.end();
  } catch (err) {
    return (err as Error).message;
  }
  throw new Error('connection was accepted');
}

async function roundTrip(device: Device) {
  const topic = `auth/${uniqueId('rt')}`;
  expect(await device.subscribe(topic)).toBe(1);
  await device.publish(topic, 'hello', 1);
  await waitFor(`message on ${topic}`, () => device.received.find((r) => r.topic === topic));
}

describe('Signature mode', () => {
  test('a correct signature connects and works both ways', async () => {
    const device = await Device.connect(bridge.mqttPort, signed('GID_dev@@@sensor-1'));
    await roundTrip(device);
    await device.end();
  });

  test.each([
    ['wrong signature', { ...signed('GID_dev@@@s2'), password: signatureFor('not-the-secret', 'GID_dev@@@s2') }, /Bad username or password/],
    ['signature of another client id', { ...signed('GID_dev@@@s3'), password: signatureFor(SECRETS.AK_ONE, 'GID_dev@@@other') }, /Bad username or password/],
    ['wrong instance id', { ...signed('GID_dev@@@s4'), username: 'Signature|AK_ONE|other-instance' }, /Not authorized/],
    ['unknown access key', signed('GID_dev@@@s5', 'AK_ONE', 'x') && { clientId: 'GID_dev@@@s5', username: `Signature|AK_NOPE|${INSTANCE}`, password: 'x' }, /Bad username or password/],
    ['group not allowed for the key', signed('GID_dev@@@s6', 'AK_TWO'), /Not authorized/],
    ['malformed client id', signed('device-without-group'), /Identifier rejected/],
    ['malformed username', { ...signed('GID_dev@@@s7'), username: 'Signature|AK_ONE' }, /Bad username or password/],
    ['no username', { clientId: 'GID_dev@@@s8' }, /Bad username or password/],
  ])('%s is refused', async (_name, options, message) => {
    expect(await connectError(options as IClientOptions)).toMatch(message);
  });

  test('the group allow-list admits its groups', async () => {
    const device = await Device.connect(bridge.mqttPort, signed('GID_allowed@@@s9', 'AK_TWO'));
    await device.end();
  });

  test('mosquitto_pub with a signature', async () => {
    const id = 'GID_cli@@@mosquitto';
    const args = (password: string) => ['-h', '127.0.0.1', '-p', String(bridge.mqttPort), '-i', id, '-u', `Signature|AK_ONE|${INSTANCE}`, '-P', password, '-q', '1', '-t', 'auth/cli', '-m', 'x'];
    await run('mosquitto_pub', args(signatureFor(SECRETS.AK_ONE, id)));
    await expect(run('mosquitto_pub', args('wrong'))).rejects.toThrow();
  });

  test('a rotated secret takes effect without a restart', async () => {
    const id = 'GID_dev@@@rotate';
    await writeFile(join(keysDir, 'AK_ONE'), 'rotated-secret');
    await waitFor('old secret refused', async () => ((await connectError(signed(id)).catch(() => '')) ? true : undefined));
    const device = await Device.connect(bridge.mqttPort, signed(id, 'AK_ONE', 'rotated-secret'));
    await device.end();
    await writeFile(join(keysDir, 'AK_ONE'), SECRETS.AK_ONE);
    await waitFor('secret restored', async () => {
      const d = await Device.connect(bridge.mqttPort, signed(id)).catch(() => undefined);
      await d?.end();
      return d ? true : undefined;
    });
  });
});

describe('Token mode', () => {
  test('R only: may subscribe within its resources, not publish', async () => {
    const device = await Device.connect(bridge.mqttPort, tokenLogin('GID_tok@@@r', `R|${token(['R'], ['auth/r/#'])}`));
    expect(await device.subscribe('auth/r/+/x')).toBe(1);
    expect(await device.subscribe('auth/other/#')).toBe(128);
    const closed = device.waitClosed();
    void device.publish('auth/r/1', 'no', 1).catch(() => undefined);
    await closed;
  });

  test('W only: may publish within its resources, not subscribe', async () => {
    const device = await Device.connect(bridge.mqttPort, tokenLogin('GID_tok@@@w', `W|${token(['W'], ['auth/w/+'])}`));
    await device.publish('auth/w/1', 'yes', 1);
    expect(await device.subscribe('auth/w/1')).toBe(128);
    await device.end();
  });

  test('RW with a wildcard resource, and R and W tokens given together', async () => {
    const rw = await Device.connect(bridge.mqttPort, tokenLogin('GID_tok@@@rw', `RW|${token(['R', 'W'], ['auth/#'])}`));
    await roundTrip(rw);
    await rw.end();
    const pair = await Device.connect(bridge.mqttPort, tokenLogin('GID_tok@@@pair', `R|${token(['R'], ['auth/#'])}|W|${token(['W'], ['auth/#'])}`));
    await roundTrip(pair);
    await pair.end();
  });

  test('expired, tampered and wrongly typed tokens are refused', async () => {
    const expired = token(['R', 'W'], ['auth/#'], { ttl: 60, now: nowSec() - 3600 });
    expect(await connectError(tokenLogin('GID_tok@@@old', `RW|${expired}`))).toMatch(/Bad username or password/);
    const good = token(['R'], ['auth/#']);
    expect(await connectError(tokenLogin('GID_tok@@@bad', `R|${good.slice(0, -2)}xx`))).toMatch(/Bad username or password/);
    expect(await connectError(tokenLogin('GID_tok@@@type', `W|${good}`))).toMatch(/Bad username or password/);
  });

  test('renewal through $SYS/uploadToken widens the rights; a bad upload disconnects', async () => {
    const device = await Device.connect(bridge.mqttPort, tokenLogin('GID_tok@@@renew', `W|${token(['W'], ['auth/#'])}`));
    expect(await device.subscribe('auth/renew/#')).toBe(128);
    await device.publish('$SYS/uploadToken', JSON.stringify({ token: token(['R', 'W'], ['auth/#']), type: 'RW' }), 1);
    expect(await device.subscribe('auth/renew/#')).toBe(1);
    const closed = device.waitClosed();
    void device.publish('$SYS/uploadToken', JSON.stringify({ token: 'not-a-token', type: 'RW' }), 1).catch(() => undefined);
    await closed;
  });

  test('mosquitto_sub with an R token receives what mosquitto_pub with a W token sends', async () => {
    const topic = `auth/mosq/${uniqueId('t')}`;
    const login = (id: string, password: string) => ['-h', '127.0.0.1', '-p', String(bridge.mqttPort), '-i', id, '-u', `Token|AK_ONE|${INSTANCE}`, '-P', password, '-q', '1'];
    const sub = run('mosquitto_sub', [...login('GID_cli@@@sub', `R|${token(['R'], ['auth/mosq/#'])}`), '-t', topic, '-C', '1', '-W', '30']);
    let received: string | undefined;
    void sub.then((r) => (received = r.stdout.trim()), () => undefined);
    // Publish until the subscriber, which may not have subscribed yet, has its message.
    await waitFor('mosquitto_sub output', async () => {
      await run('mosquitto_pub', [...login('GID_cli@@@pub', `W|${token(['W'], ['auth/mosq/#'])}`), '-t', topic, '-m', 'from mosquitto']);
      await sleep(300);
      return received;
    }, 30_000, 200);
    expect(received).toBe('from mosquitto');
    // An R token does not let mosquitto_pub publish.
    await expect(run('mosquitto_pub', [...login('GID_cli@@@nopub', `R|${token(['R'], ['auth/mosq/#'])}`), '-t', topic, '-m', 'x'])).rejects.toThrow();
  });

  test('a client whose token expires without renewal is disconnected', async () => {
    const shortLived = token(['R', 'W'], ['auth/#'], { ttl: 60, now: nowSec() - 58 });
    const device = await Device.connect(bridge.mqttPort, tokenLogin('GID_tok@@@expiring', `RW|${shortLived}`));
    await device.waitClosed(10_000);
    expect(await metricValue(bridge, 'mqbridge_auth_failures_total', { reason: 'token_expired_while_connected' })).toBeGreaterThan(0);
  });
});

test('failed logins are counted per reason, rate-limited per source (valid logins still pass), and never logged with a secret', async () => {
  const limited = await authBridge(GROUPS.bridgeMtls, { maxFailuresPerMinute: 3 });
  for (let i = 0; i < 3; i++) await connectError({ ...signed(`GID_dev@@@bf${i}`), password: `guess-${i}` }, limited);
  // The source is over its budget: its next failing login is refused as rate-limited...
  expect(await connectError({ ...signed('GID_dev@@@bf3'), password: 'guess-3' }, limited)).toMatch(/Not authorized/);
  // ...but a device with valid credentials behind the same address (a NAT) still connects.
  const behindTheSameNat = await Device.connect(limited.mqttPort, signed('GID_dev@@@bf-real'));
  await behindTheSameNat.end();
  expect(await metricValue(limited, 'mqbridge_auth_failures_total', { reason: 'rate_limited' })).toBe(1);
  expect(await metricValue(limited, 'mqbridge_auth_failures_total', { reason: 'bad_signature' })).toBe(3);
  await limited.stop();
  await sleep(100);
  expect(logText).toContain('CONNECT refused');
  for (const secret of [...Object.values(SECRETS), 'rotated-secret', signatureFor(SECRETS.AK_ONE, 'GID_dev@@@sensor-1'), 'guess-1']) {
    expect(logText).not.toContain(secret);
  }
});
