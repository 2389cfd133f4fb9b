import { execFile } from 'node:child_process';
import { mkdtemp, writeFile } from 'node:fs/promises';
import { request } from 'node:http';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { fileURLToPath } from 'node:url';
import { promisify } from 'node:util';
import type { IClientOptions } from 'mqtt';
import { authorizationHeader, newNonce } from '../../bridge/auth/request-signature.js';
import { Bridge } from '../../bridge/bridge.js';
import { metricValue, testConfig, testLogger } from './support/bridge.js';
import { GROUPS, REDIS_URL, ROCKETMQ_ENDPOINT, TOPICS, uniqueId, waitFor } from './support/env.js';
import { Device } from './support/mqtt.js';
import { makePki } from './support/pki.js';
import { spawnBridge, type BridgeProcess } from './support/process.js';

/**
 * The token API and revocation across pods: bridge A runs in this process, bridge B is a real
 * second process; both share the access keys (a mounted Secret) and Redis (the session store),
 * as two pods of one MqttBridge do.
 */
const run = promisify(execFile);
const CLI = fileURLToPath(new URL('../../bridge/cli/main.js', import.meta.url));
const INSTANCE = 'mqtt-token-instance';
const SECRETS = { AK_ONE: 'token-secret-one', AK_TWO: 'token-secret-two' } as const;
const NAME = uniqueId('tok-');

let keysDir: string;
let a: Bridge;
let b: BridgeProcess;
let c: Bridge | undefined;

function settings() {
  return {
    bridge: { name: NAME },
    auth: { mode: 'SignatureOrToken', instanceId: INSTANCE, accessKeysDir: keysDir, maxFailuresPerMinute: 1000, reloadPollMs: 100, tokenApi: { host: '127.0.0.1', port: 0, revocationResyncMs: 1_000 } },
    sessionStore: { redis: { url: REDIS_URL, keyPrefix: `it:${NAME}:` } },
    bindings: [{ mqttParentTopic: 'tok', rocketmqTopic: TOPICS.down }],
  } as const;
}

async function startInProcess(): Promise<Bridge> {
  const bridge = await Bridge.start(testConfig(GROUPS.bridgeTokens, settings() as never), { log: testLogger() });
  await waitFor('bridge ready', () => bridge.readiness().ready, 60_000);
  return bridge;
}

beforeAll(async () => {
  keysDir = await mkdtemp(join(tmpdir(), 'mqbridge-token-keys-'));
  for (const [ak, secret] of Object.entries(SECRETS)) await writeFile(join(keysDir, ak), secret);
  a = await startInProcess();
  const s = settings();
  b = await spawnBridge({
    ...s,
    mqtt: { host: '127.0.0.1', port: 0 },
    http: { host: '127.0.0.1', port: 0 },
    rocketmq: { endpoints: ROCKETMQ_ENDPOINT, consumerGroup: GROUPS.bridgeTokens, longPollingMs: 5_000 },
  });
});

afterAll(async () => {
  await Promise.allSettled([a?.stop(), c?.stop()]);
  b?.child.kill('SIGTERM');
  await b?.exited;
});

/** `mqbridge token ...` as a user runs it, with the key in the environment. */
async function cli(port: number, args: string[], ak: keyof typeof SECRETS = 'AK_ONE'): Promise<string> {
  const env = { ...process.env, MQBRIDGE_ACCESS_KEY_ID: ak, MQBRIDGE_ACCESS_KEY_SECRET: SECRETS[ak], MQBRIDGE_INSTANCE_ID: INSTANCE };
  const { stdout } = await run(process.execPath, [CLI, 'token', ...args, '--url', `http://127.0.0.1:${port}`], { env });
  return stdout.trim();
}

const tokenLogin = (clientId: string, token: string): IClientOptions => ({ clientId, username: `Token|AK_ONE|${INSTANCE}`, password: `RW|${token}` });

async function refusal(port: number, options: IClientOptions): Promise<string> {
  try {
    const d = await Device.connect(port, options);
    await d.end();
  } catch (err) {
    return (err as Error).message;
  }
  throw new Error('connection was accepted');
}

/** A raw call, to check what the API answers to what the CLI would never send. */
function post(port: number, path: string, body: string, headers: Record<string, string> = {}, method = 'POST'): Promise<{ status: number; body: Record<string, unknown> }> {
  return new Promise((resolve, reject) => {
    const req = request({ host: '127.0.0.1', port, path, method, headers: { 'content-type': 'application/json', ...headers } }, (res) => {
      const chunks: Buffer[] = [];
      res.on('data', (c: Buffer) => chunks.push(c));
      res.on('end', () => resolve({ status: res.statusCode ?? 0, body: JSON.parse(Buffer.concat(chunks).toString() || '{}') as Record<string, unknown> }));
    });
    req.on('error', reject);
    req.end(body);
  });
}

test('apply with the CLI, log in on both pods, query, revoke on one pod: both disconnect and refuse it', async () => {
  const token = await cli(a.tokenApiPort, ['apply', '--resource', 'tok/#', '--actions', 'RW', '--ttl', '600']);
  const onA = await Device.connect(a.mqttPort, tokenLogin('GID_tok@@@on-a', token));
  const onB = await Device.connect(b.mqttPort, tokenLogin('GID_tok@@@on-b', token));
  const topic = `tok/${uniqueId('t')}`;
  expect(await onA.subscribe(topic)).toBe(1);
  await onA.publish(topic, 'hello', 1);
  await waitFor('own message back', () => onA.received.find((r) => r.topic === topic));

  // The other pod answers for a token it never issued: verification needs only the keys.
  expect(JSON.parse(await cli(b.tokenApiPort, ['query', token]))).toMatchObject({ tokenStatus: true, status: 'Valid', resources: ['tok/#'], actions: 'RW' });
  const inspected = JSON.parse(await cli(a.tokenApiPort, ['inspect', token])) as { claims: { res: string[]; ak: string }; status: { status: string } };
  expect(inspected).toMatchObject({ claims: { res: ['tok/#'], ak: 'AK_ONE' }, status: { status: 'Valid' } });

  const t0 = Date.now();
  expect(JSON.parse(await cli(a.tokenApiPort, ['revoke', token]))).toMatchObject({ revoked: true, status: 'Revoked' });
  await Promise.all([onA.waitClosed(10_000), onB.waitClosed(10_000)]);
  console.log(`revocation: both pods disconnected the token's clients ${Date.now() - t0} ms after the CLI started`);

  expect(await refusal(b.mqttPort, tokenLogin('GID_tok@@@again', token))).toMatch(/Bad username or password/);
  expect(await refusal(a.mqttPort, tokenLogin('GID_tok@@@again', token))).toMatch(/Bad username or password/);
  expect(JSON.parse(await cli(b.tokenApiPort, ['query', token]))).toMatchObject({ tokenStatus: false, status: 'Revoked' });
  expect(await metricValue(a, 'mqbridge_auth_failures_total', { reason: 'token_revoked_while_connected' })).toBe(1);

  // A pod started after the revocation reads it from the shared list.
  c = await startInProcess();
  expect(await refusal(c.mqttPort, tokenLogin('GID_tok@@@late', token))).toMatch(/Bad username or password/);
  const fresh = await cli(c.tokenApiPort, ['apply', '--resource', 'tok/#', '--actions', 'W', '--ttl', '600']);
  const late = await Device.connect(c.mqttPort, { clientId: 'GID_tok@@@late', username: `Token|AK_ONE|${INSTANCE}`, password: `W|${fresh}` });
  await late.end();
});

test('a renewal with a revoked token disconnects; the CLI reports API errors with exit codes', async () => {
  const keep = await cli(a.tokenApiPort, ['apply', '--resource', 'tok/#', '--actions', 'RW', '--ttl', '600']);
  const revoked = await cli(a.tokenApiPort, ['apply', '--resource', 'tok/#', '--actions', 'RW', '--ttl', '600']);
  await cli(a.tokenApiPort, ['revoke', revoked]);
  const device = await Device.connect(b.mqttPort, tokenLogin('GID_tok@@@renew', keep));
  await waitFor('B knows the revocation', async () => JSON.parse(await cli(b.tokenApiPort, ['query', revoked])).status === 'Revoked' || undefined);
  // No PUBACK comes for a refused token: the connection is closed instead.
  device.client.publish('$SYS/uploadToken', JSON.stringify({ token: revoked, type: 'RW' }), { qos: 1 });
  await device.waitClosed(10_000);

  // Another key may not revoke it; a bad resource is a usage problem of the caller.
  await expect(cli(a.tokenApiPort, ['revoke', keep], 'AK_TWO')).rejects.toMatchObject({ code: 1, stderr: expect.stringMatching(/Forbidden \(HTTP 403\)/) });
  await expect(cli(a.tokenApiPort, ['apply', '--resource', '$SYS/#', '--actions', 'R', '--ttl', '600'])).rejects.toMatchObject({ code: 1, stderr: expect.stringMatching(/InvalidParameter \(HTTP 400\)/) });
  await expect(cli(a.tokenApiPort, ['apply', '--actions', 'R'])).rejects.toMatchObject({ code: 2, stderr: expect.stringMatching(/needs --resource/) });
});

test('the API refuses unsigned, badly signed, oversized and misrouted requests, and counts them', async () => {
  const port = a.tokenApiPort;
  const body = JSON.stringify({ instanceId: INSTANCE, resources: ['tok/#'], actions: 'R', ttlSeconds: 600 });
  const signed = (secret: string, path = '/api/v1/token/apply', text = body) =>
    authorizationHeader('AK_ONE', secret, { method: 'POST', path, body: text, timestamp: Math.floor(Date.now() / 1000), nonce: newNonce() });
  const before = await metricValue(a, 'mqbridge_auth_failures_total', { reason: 'api_bad_signature' });

  expect(await post(port, '/api/v1/token/apply', body)).toMatchObject({ status: 401, body: { code: 'Unauthorized' } });
  expect(await post(port, '/api/v1/token/apply', body, { authorization: signed('guess') })).toMatchObject({ status: 401 });
  expect(await post(port, '/api/v1/token/apply', body, { authorization: signed(SECRETS.AK_ONE, '/api/v1/token/query') })).toMatchObject({ status: 401 });
  expect(await post(port, '/api/v1/token/apply', '{nope', { authorization: signed(SECRETS.AK_ONE, '/api/v1/token/apply', '{nope') })).toMatchObject({ status: 400, body: { code: 'InvalidParameter' } });
  expect(await post(port, '/api/v1/token/apply', 'x'.repeat(70_000))).toMatchObject({ status: 413 });
  expect(await post(port, '/api/v1/token/steal', body)).toMatchObject({ status: 404 });
  expect(await post(port, '/api/v1/token/apply', '', {}, 'GET')).toMatchObject({ status: 405 });
  expect(await post(port, '/api/v1/token/apply', body, { authorization: signed(SECRETS.AK_ONE) })).toMatchObject({ status: 200 });

  expect((await metricValue(a, 'mqbridge_auth_failures_total', { reason: 'api_bad_signature' })) - before).toBe(2);
  expect(await metricValue(a, 'mqbridge_token_api_requests_total', { action: 'apply', status: '401' })).toBeGreaterThanOrEqual(3);
  // Nothing secret in what a refused caller or the logs get to see.
  const logs = JSON.stringify(b.logs);
  for (const secret of Object.values(SECRETS)) expect(logs).not.toContain(secret);
});

test('a signed request is taken once, on any pod: a replay is refused, and no refusal tells which key ids exist', async () => {
  const body = JSON.stringify({ instanceId: INSTANCE, resources: ['tok/#'], actions: 'R', ttlSeconds: 600 });
  const path = '/api/v1/token/apply';
  const header = (ak: string, secret: string) => authorizationHeader(ak, secret, { method: 'POST', path, body, timestamp: Math.floor(Date.now() / 1000), nonce: newNonce() });
  const captured = header('AK_ONE', SECRETS.AK_ONE);
  const before = await metricValue(a, 'mqbridge_auth_failures_total', { reason: 'api_replayed_nonce' });
  expect(await post(a.tokenApiPort, path, body, { authorization: captured })).toMatchObject({ status: 200 });
  const replayedHere = await post(a.tokenApiPort, path, body, { authorization: captured });
  const replayedThere = await post(b.tokenApiPort, path, body, { authorization: captured });
  expect([replayedHere.status, replayedThere.status]).toEqual([401, 401]);
  expect((await metricValue(a, 'mqbridge_auth_failures_total', { reason: 'api_replayed_nonce' })) - before).toBe(1);
  // An unknown key, a wrong secret and a replay get the same answer.
  const unknownKey = await post(a.tokenApiPort, path, body, { authorization: header('AK_NOBODY', 'x') });
  const wrongSecret = await post(a.tokenApiPort, path, body, { authorization: header('AK_ONE', 'guess') });
  expect(unknownKey).toEqual(replayedHere);
  expect(wrongSecret).toEqual(replayedHere);
});

test('a token applied for a client id works for that id only, at CONNECT and on renewal', async () => {
  const bound = await cli(a.tokenApiPort, ['apply', '--resource', 'tok/#', '--actions', 'RW', '--ttl', '600', '--client-id', 'GID_tok@@@bound-1']);
  const group = await cli(a.tokenApiPort, ['apply', '--resource', 'tok/#', '--actions', 'RW', '--ttl', '600', '--client-id', 'GID_tok@@@line-*']);
  expect(JSON.parse(await cli(b.tokenApiPort, ['query', bound]))).toMatchObject({ status: 'Valid', clientId: 'GID_tok@@@bound-1' });
  const device = await Device.connect(b.mqttPort, tokenLogin('GID_tok@@@bound-1', bound));
  expect(await refusal(b.mqttPort, tokenLogin('GID_tok@@@bound-2', bound))).toMatch(/Not authorized/);
  const lineDevice = await Device.connect(a.mqttPort, tokenLogin('GID_tok@@@line-7', group));
  expect(await refusal(a.mqttPort, tokenLogin('GID_tok@@@other-7', group))).toMatch(/Not authorized/);
  await lineDevice.end();
  await expect(cli(a.tokenApiPort, ['apply', '--resource', 'tok/#', '--actions', 'R', '--ttl', '600', '--client-id', 'GID_tok@@@a*b'])).rejects.toMatchObject({ code: 1, stderr: expect.stringMatching(/InvalidParameter/) });
  // A renewal with a token bound to another client id is refused: the client is disconnected.
  const closed = device.waitClosed(10_000);
  device.client.publish('$SYS/uploadToken', JSON.stringify({ token: group, type: 'RW' }), { qos: 1 });
  await closed;
  expect(await metricValue(a, 'mqbridge_auth_failures_total', { reason: 'token_client_id_mismatch' })).toBeGreaterThanOrEqual(1);
});

test('with Redis away, revoking fails with 503 and pods keep the ids they know; afterwards it works again', async () => {
  const redis = (cmd: string) => run('bash', [fileURLToPath(new URL('../../../test/env/redis.sh', import.meta.url)), cmd]);
  const token = await cli(a.tokenApiPort, ['apply', '--resource', 'tok/#', '--actions', 'RW', '--ttl', '600']);
  const earlier = await cli(a.tokenApiPort, ['apply', '--resource', 'tok/#', '--actions', 'RW', '--ttl', '600']);
  await cli(a.tokenApiPort, ['revoke', earlier]);
  await redis('stop');
  try {
    await expect(cli(a.tokenApiPort, ['revoke', token])).rejects.toMatchObject({ code: 1, stderr: expect.stringMatching(/ServiceUnavailable \(HTTP 503\)/) });
    expect(await refusal(b.mqttPort, tokenLogin('GID_tok@@@while-away', earlier))).toMatch(/Bad username or password/);
  } finally {
    await redis('restart');
  }
  const device = await Device.connect(b.mqttPort, tokenLogin('GID_tok@@@after', token));
  await waitFor('revocation stored again', async () => JSON.parse(await cli(a.tokenApiPort, ['revoke', token]).catch(() => '{}')).revoked || undefined, 30_000);
  await device.waitClosed(10_000);
});

test('a single pod without a session store: the token API over HTTPS, revocation in the pod', async () => {
  const pki = await makePki();
  const single = await Bridge.start(
    testConfig(GROUPS.bridgeTokens, {
      ...settings(),
      bridge: { name: uniqueId('tok-single-') },
      sessionStore: {},
      tls: { certFile: pki.serverCert, keyFile: pki.serverKey },
      auth: { ...settings().auth, tokenApi: { host: '127.0.0.1', port: 0, tls: true } },
    } as never),
    { log: testLogger() },
  );
  try {
    const port = single.tokenApiPort;
    const https = async (args: string[]) => {
      const env = { ...process.env, MQBRIDGE_ACCESS_KEY_ID: 'AK_ONE', MQBRIDGE_ACCESS_KEY_SECRET: SECRETS.AK_ONE, MQBRIDGE_INSTANCE_ID: INSTANCE };
      return (await run(process.execPath, [CLI, 'token', ...args, '--url', `https://127.0.0.1:${port}`], { env })).stdout.trim();
    };
    // A client that does not trust the bridge's CA gets no answer.
    await expect(https(['apply', '--resource', 'tok/#', '--actions', 'R', '--ttl', '600'])).rejects.toMatchObject({ code: 1, stderr: expect.stringMatching(/certificate/i) });
    const token = await https(['apply', '--resource', 'tok/#', '--actions', 'RW', '--ttl', '600', '--ca-file', pki.ca]);
    const device = await Device.connect(single.mqttPort, tokenLogin('GID_tok@@@single', token));
    expect(JSON.parse(await https(['revoke', token, '--ca-file', pki.ca]))).toMatchObject({ revoked: true });
    await device.waitClosed(10_000);
    expect(await refusal(single.mqttPort, tokenLogin('GID_tok@@@single', token))).toMatch(/Bad username or password/);
  } finally {
    await single.stop();
  }
});
