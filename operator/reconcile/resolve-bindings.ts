/** What decides whether a TopicBinding is bound: pure, so every rule is table-tested. */

export interface BindingObject {
  metadata: { name?: string; namespace?: string; creationTimestamp?: string | Date; generation?: number };
  spec: { bridge: string; mqttParentTopic: string; rocketmqTopic: string; direction?: string; defaultQos?: number };
}

export type TopicExistence = 'exists' | 'missing' | 'unknown';

export type BindingVerdict =
  | { state: 'Bound'; message: string }
  | { state: 'BridgeNotFound' | 'Conflict' | 'TopicNotFound' | 'Forbidden'; message: string };

export interface Resolution<B extends BindingObject> {
  /** The bindings that go into the bridge's config, oldest first. */
  active: B[];
  verdicts: Map<B, BindingVerdict>;
}

const created = (b: BindingObject) => new Date(b.metadata.creationTimestamp ?? 0).getTime();

/** Oldest first; the name breaks ties so the outcome never depends on list order. */
export function byAge(a: BindingObject, b: BindingObject): number {
  return created(a) - created(b) || (a.metadata.name ?? '').localeCompare(b.metadata.name ?? '');
}

const deliversToMqtt = (b: BindingObject) => (b.spec.direction ?? 'Bidirectional') !== 'MqttToRocketmq';

/**
 * Decides each binding of one bridge. Two bindings claiming one parent topic, or two that
 * both deliver one RocketMQ topic to MQTT: the older one wins, the newer one is a Conflict.
 * A RocketMQ topic known to be missing leaves the binding out (TopicNotFound); when the
 * operator cannot tell, the binding stays in and the bridge reports the topic itself. A topic
 * the namespace may not use under the cluster admin's policy is Forbidden (`forbidden` says why).
 */
export function resolveBindings<B extends BindingObject>(
  bridgeExists: boolean,
  bindings: readonly B[],
  topics: (rocketmqTopic: string) => TopicExistence,
  forbidden: (rocketmqTopic: string) => string | undefined = () => undefined,
): Resolution<B> {
  const verdicts = new Map<B, BindingVerdict>();
  const active: B[] = [];
  const parents = new Map<string, B>();
  const downlinkTopics = new Map<string, B>();
  for (const b of [...bindings].sort(byAge)) {
    if (!bridgeExists) {
      verdicts.set(b, { state: 'BridgeNotFound', message: `MqttBridge ${b.spec.bridge} does not exist in this namespace` });
      continue;
    }
    const refusal = forbidden(b.spec.rocketmqTopic);
    if (refusal) {
      verdicts.set(b, { state: 'Forbidden', message: refusal });
      continue;
    }
    const parentOwner = parents.get(b.spec.mqttParentTopic);
    if (parentOwner) {
      verdicts.set(b, { state: 'Conflict', message: `parent topic ${b.spec.mqttParentTopic} is already bound by the older TopicBinding ${parentOwner.metadata.name}` });
      continue;
    }
    const topicOwner = deliversToMqtt(b) ? downlinkTopics.get(b.spec.rocketmqTopic) : undefined;
    if (topicOwner) {
      verdicts.set(b, {
        state: 'Conflict',
        message: `RocketMQ topic ${b.spec.rocketmqTopic} is already delivered to MQTT by the older TopicBinding ${topicOwner.metadata.name}`,
      });
      continue;
    }
    const existence = topics(b.spec.rocketmqTopic);
    if (existence === 'missing') {
      verdicts.set(b, { state: 'TopicNotFound', message: `RocketMQ topic ${b.spec.rocketmqTopic} does not exist; create it with the RocketMQ admin tools` });
      continue;
    }
    parents.set(b.spec.mqttParentTopic, b);
    if (deliversToMqtt(b)) downlinkTopics.set(b.spec.rocketmqTopic, b);
    active.push(b);
    const note = existence === 'unknown' ? ' (RocketMQ could not be asked whether the topic exists)' : '';
    verdicts.set(b, { state: 'Bound', message: `bound to bridge ${b.spec.bridge}${note}` });
  }
  return { active, verdicts };
}
