import { pino } from 'pino';
import { TopicChecker } from '../../operator/rocketmq/topic-checker.js';
import { ROCKETMQ_ENDPOINT, TOPICS } from './support/env.js';

/** The operator asks RocketMQ whether topics exist, for endpoints any MqttBridge names: its clients must stay few. */
const open = (checker: TopicChecker) => (checker as unknown as { clients: Map<string, unknown> }).clients.size;

test('the topic checker answers from the real proxy, keeps at most 32 clients, and shuts idle ones down', async () => {
  const checker = new TopicChecker(pino({ level: 'silent' }), 10_000, 3_000, 60_000);
  try {
    expect(await checker.check(ROCKETMQ_ENDPOINT, '', TOPICS.normal)).toBe('exists');
    expect(await checker.check(ROCKETMQ_ENDPOINT, '', 'IT_NO_SUCH_TOPIC')).toBe('missing');
    // Forty bridges naming forty RocketMQ namespaces on one proxy: forty clients' worth of endpoints.
    for (let i = 0; i < 40; i++) await checker.check(ROCKETMQ_ENDPOINT, `ns${i}`, TOPICS.normal);
    expect(open(checker)).toBeLessThanOrEqual(32);
    checker.closeIdle(Date.now() + 60_000);
    expect(open(checker)).toBe(0);
    // A new question opens a client again.
    expect(await checker.check(ROCKETMQ_ENDPOINT, '', TOPICS.down)).toBe('exists');
    expect(open(checker)).toBe(1);
  } finally {
    await checker.close();
  }
});
