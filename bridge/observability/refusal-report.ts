import type { RefusalReason } from '../mapping/refusals.js';
import type { Logger } from './log.js';
import type { BridgeMetrics } from './metrics.js';

/**
 * The one way a refusal is reported: counted under its reason and logged once, by the code
 * that decided it, with the reason and its detail in every line, so a search by reason finds
 * each kind of refusal whichever part refused it.
 */
/** What a refused PUBLISH logs, whether the rights or the mapping refused it: the client is disconnected (MQTT 3.1.1 has no refusal PUBACK). */
export const PUBLISH_REFUSED = 'PUBLISH refused; disconnecting client';

export function reportRefusal(
  metrics: BridgeMetrics,
  log: Logger,
  refusal: { reason: RefusalReason; detail?: string | undefined },
  context: Record<string, unknown>,
  message: string,
  level: 'warn' | 'info' | 'debug' = 'warn',
): void {
  metrics.refused(refusal.reason);
  log[level]({ ...context, reason: refusal.reason, ...(refusal.detail !== undefined ? { detail: refusal.detail } : {}) }, message);
}
