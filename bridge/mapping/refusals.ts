/** Why the bridge refused something: the `reason` label of mqbridge_refusals_total. */
export type RefusalReason =
  | 'empty_topic'
  | 'wildcard_in_topic'
  | 'topic_too_long'
  | 'reserved_topic'
  | 'unbound_topic'
  | 'direction_forbidden'
  | 'payload_too_large'
  | 'packet_too_large'
  | 'malformed_packet'
  | 'client_id_too_long'
  | 'rocketmq_unavailable'
  | 'rocketmq_rejected'
  | 'invalid_downlink_message'
  | 'p2p_target_offline'
  | 'session_store_unavailable'
  | 'not_authorized'
  | 'control_character'
  | 'will_not_allowed'
  | 'too_many_filters'
  | 'too_many_subscriptions'
  | 'too_many_connections'
  | 'too_many_connections_from_source'
  | 'too_many_connects_waiting'
  | 'too_many_qos2_in_flight'
  | 'delivery_not_allowed'
  | 'connect_timeout'
  | 'tls_client_certificate_rejected';

export interface Refusal {
  ok: false;
  reason: RefusalReason;
  detail: string;
}

export function refuse(reason: RefusalReason, detail: string): Refusal {
  return { ok: false, reason, detail };
}
