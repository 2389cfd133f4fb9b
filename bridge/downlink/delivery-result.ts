/**
 * What became of one RocketMQ message handed to MQTT, which decides its ack:
 * - `delivered`: aedes took it (for QoS > 0, queued for offline persistent sessions too); acked.
 * - `dropped`: it can never be delivered however often it came back (refused by the mapping, an
 *   echo of the bridge's own uplink, a P2P message for an offline device that asked not to keep
 *   it); counted and logged where that was decided, and acked.
 * - `retry-later`: not now, perhaps on redelivery; left unacked, RocketMQ hands it out again once
 *   its invisible duration is over.
 */
export type DeliveryResult = { outcome: 'delivered' } | { outcome: 'dropped' } | { outcome: 'retry-later'; reason: RetryReason; err?: Error };

/**
 * Why a message waits in RocketMQ: its topic was unbound by a reload while it was received; the
 * session store does not answer (a QoS 1 message would not reach other pods' offline sessions);
 * aedes refused the publish; or the handler failed unexpectedly (a bug).
 */
export type RetryReason = 'unbound' | 'session_store_unreachable' | 'publish_failed' | 'handler_failed';

export const DELIVERED: DeliveryResult = { outcome: 'delivered' };
export const DROPPED: DeliveryResult = { outcome: 'dropped' };

export function retryLater(reason: RetryReason, err?: Error): DeliveryResult {
  return err ? { outcome: 'retry-later', reason, err } : { outcome: 'retry-later', reason };
}

/** Reasons that are a fault to look into (logged as errors); the others are expected while the world changes. */
export function isFault(reason: RetryReason): boolean {
  return reason === 'publish_failed' || reason === 'handler_failed';
}
