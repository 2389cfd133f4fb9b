import { readFileSync } from 'node:fs';
import { PINNED_AEDES_VERSION } from '../../bridge/mqtt/aedes-internals.js';
import { PINNED_PERSISTENCE_REDIS_VERSION, checkPersistenceInternals } from '../../bridge/redis/persistence.js';
import { PINNED_ROCKETMQ_CLIENT_VERSION, checkRocketmqInternals } from '../../bridge/rocketmq/batch-ack.js';
import { assertInternals } from '../../bridge/util/pinned.js';

const dependencies = (JSON.parse(readFileSync('package.json', 'utf8')) as { dependencies: Record<string, string> }).dependencies;

test.each([
  ['aedes', PINNED_AEDES_VERSION],
  ['aedes-persistence-redis', PINNED_PERSISTENCE_REDIS_VERSION],
  ['rocketmq-client-nodejs', PINNED_ROCKETMQ_CLIENT_VERSION],
])('%s, whose internals a seam uses, is pinned in package.json to exactly the seam\'s version', (pkg, pinned) => {
  expect(dependencies[pkg]).toBe(pinned);
});

test('the seams accept the installed libraries', () => {
  expect(() => checkPersistenceInternals()).not.toThrow();
  expect(() => checkRocketmqInternals()).not.toThrow();
});

test('a version other than the pinned one, or a missing member, fails with both named', () => {
  expect(() => assertInternals('rocketmq-client-nodejs', '9.9.9', ['SimpleConsumer.ackMessageViaRpc is missing'])).toThrow(
    /unsupported rocketmq-client-nodejs: rocketmq-client-nodejs 1\.0\.8 is installed, the bridge is built against 9\.9\.9; SimpleConsumer\.ackMessageViaRpc is missing/,
  );
});
