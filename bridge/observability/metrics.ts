import { Counter, Gauge, Histogram, Registry, collectDefaultMetrics } from 'prom-client';
import type { RefusalReason } from '../mapping/refusals.js';

const LATENCY_BUCKETS = [0.0005, 0.001, 0.0025, 0.005, 0.01, 0.025, 0.05, 0.1, 0.25, 0.5, 1, 2.5, 5, 10];

/** Every metric the bridge exports, in one registry per bridge instance. */
export class BridgeMetrics {
  readonly registry = new Registry();

  readonly connections = new Gauge({
    name: 'mqbridge_mqtt_connections',
    help: 'MQTT clients currently connected',
    registers: [this.registry],
  });

  readonly connectsWaiting = new Gauge({
    name: 'mqbridge_mqtt_connects_waiting',
    help: 'New connections waiting for their turn (mqtt.connectsPerSecond)',
    registers: [this.registry],
  });

  readonly connects = new Counter({
    name: 'mqbridge_mqtt_connects_total',
    help: 'MQTT connection attempts by result',
    labelNames: ['result'] as const,
    registers: [this.registry],
  });

  readonly messages = new Counter({
    name: 'mqbridge_messages_total',
    help: 'Messages carried, by direction (uplink: MQTT to RocketMQ, downlink: RocketMQ to MQTT) and binding',
    labelNames: ['direction', 'binding'] as const,
    registers: [this.registry],
  });

  readonly bytes = new Counter({
    name: 'mqbridge_message_bytes_total',
    help: 'Payload bytes carried, by direction and binding',
    labelNames: ['direction', 'binding'] as const,
    registers: [this.registry],
  });

  readonly refusals = new Counter({
    name: 'mqbridge_refusals_total',
    help: 'Packets, subscriptions and messages refused, by reason',
    labelNames: ['reason'] as const,
    registers: [this.registry],
  });

  readonly errors = new Counter({
    name: 'mqbridge_errors_total',
    help: 'Errors by component',
    labelNames: ['component'] as const,
    registers: [this.registry],
  });

  readonly sendSeconds = new Histogram({
    name: 'mqbridge_rocketmq_send_seconds',
    help: 'Latency of one RocketMQ send attempt, by result',
    labelNames: ['result'] as const,
    buckets: LATENCY_BUCKETS,
    registers: [this.registry],
  });

  readonly sendBatchMessages = new Histogram({
    name: 'mqbridge_rocketmq_send_batch_messages',
    help: 'Messages per RocketMQ send request of the uplink (batches of one topic)',
    buckets: [1, 2, 4, 8, 16, 32, 64, 128, 256],
    registers: [this.registry],
  });

  readonly receiveSeconds = new Histogram({
    name: 'mqbridge_rocketmq_receive_seconds',
    help: 'Latency of RocketMQ receive calls that returned messages',
    buckets: LATENCY_BUCKETS,
    registers: [this.registry],
  });

  readonly downlinkLeftUnacked = new Counter({
    name: 'mqbridge_downlink_left_unacked_total',
    help: 'RocketMQ messages left unacked for redelivery, by reason (unbound, session_store_unreachable, publish_failed, handler_failed)',
    labelNames: ['reason'] as const,
    registers: [this.registry],
  });
  readonly downlinkDelaySeconds = new Histogram({
    name: 'mqbridge_downlink_delay_seconds',
    help: 'Time from a message being stored in RocketMQ to its hand-over to MQTT delivery',
    buckets: LATENCY_BUCKETS,
    registers: [this.registry],
  });

  readonly sendRetries = new Counter({
    name: 'mqbridge_rocketmq_send_retries_total',
    help: 'Uplink sends retried after a transient RocketMQ error',
    registers: [this.registry],
  });

  readonly sendDegraded = new Counter({
    name: 'mqbridge_rocketmq_send_degraded_total',
    help: 'Uplink sends RocketMQ stored less durably than configured (flush or replica timeout, no replica), by reason; not retried',
    labelNames: ['reason'] as const,
    registers: [this.registry],
  });

  readonly duplicatesSkipped = new Counter({
    name: 'mqbridge_uplink_duplicates_skipped_total',
    help: 'QoS 2 retransmissions (DUP) of messages already stored in RocketMQ, acknowledged without sending again',
    registers: [this.registry],
  });

  readonly rocketmqUp = new Gauge({
    name: 'mqbridge_rocketmq_up',
    help: '1 while RocketMQ answers, else 0',
    registers: [this.registry],
  });

  readonly bindings = new Gauge({
    name: 'mqbridge_bindings',
    help: 'Topic bindings in force',
    registers: [this.registry],
  });

  readonly reloads = new Counter({
    name: 'mqbridge_config_reloads_total',
    help: 'Configuration texts seen, by result (applied, invalid, ignored: a stale mounted file) and source (file, configmap)',
    labelNames: ['result', 'source'] as const,
    registers: [this.registry],
  });
  readonly configMapWatchUp = new Gauge({
    name: 'mqbridge_config_configmap_watch_up',
    help: '1 while the bridge follows its ConfigMap through the API server, 0 while that watch fails',
    registers: [this.registry],
  });

  readonly authFailures = new Counter({
    name: 'mqbridge_auth_failures_total',
    help: 'Refused logins and token uploads, by reason',
    labelNames: ['reason'] as const,
    registers: [this.registry],
  });

  readonly authSuccesses = new Counter({
    name: 'mqbridge_auth_successes_total',
    help: 'Accepted logins by mode',
    labelNames: ['mode'] as const,
    registers: [this.registry],
  });

  readonly accessKeyReloads = new Counter({
    name: 'mqbridge_access_key_reloads_total',
    help: 'Access key reloads by result',
    labelNames: ['result'] as const,
    registers: [this.registry],
  });

  readonly tokenApiRequests = new Counter({
    name: 'mqbridge_token_api_requests_total',
    help: 'Token API calls by action and HTTP status',
    labelNames: ['action', 'status'] as const,
    registers: [this.registry],
  });

  readonly revocationSyncs = new Counter({
    name: 'mqbridge_token_revocation_syncs_total',
    help: 'Reads of the shared token revocation list by result',
    labelNames: ['result'] as const,
    registers: [this.registry],
  });

  readonly tlsReloads = new Counter({
    name: 'mqbridge_tls_reloads_total',
    help: 'TLS certificate reloads by result',
    labelNames: ['result'] as const,
    registers: [this.registry],
  });

  readonly sessionStoreUp = new Gauge({
    name: 'mqbridge_session_store_up',
    help: '1 while the shared session store (Redis) answers, 0 while it is away; absent without one',
    registers: [this.registry],
  });

  readonly sessionStoreOutages = new Counter({
    name: 'mqbridge_session_store_outages_total',
    help: 'Times the connection to the session store was lost',
    registers: [this.registry],
  });

  readonly sessionStoreDegraded = new Counter({
    name: 'mqbridge_session_store_degraded_total',
    help: 'Work done without the session store while it was away, by operation (e.g. delivered on this pod only)',
    labelNames: ['operation'] as const,
    registers: [this.registry],
  });

  readonly offlineQueueDropped = new Counter({
    name: 'mqbridge_offline_queue_dropped_total',
    help: 'Messages not kept for an offline persistent session because its queue held mqtt.maxQueuedMessagesPerSession already',
    registers: [this.registry],
  });

  readonly keepaliveEnforced = new Counter({
    name: 'mqbridge_mqtt_keepalive_enforced_total',
    help: 'CONNECTs asking for no keep alive (0) or one above mqtt.maxKeepaliveSeconds, given the maximum instead',
    registers: [this.registry],
  });

  readonly sessionsExpired = new Counter({
    name: 'mqbridge_sessions_expired_total',
    help: 'Persistent sessions ended after staying offline for sessionStore.sessionExpirySeconds',
    registers: [this.registry],
  });

  constructor() {
    collectDefaultMetrics({ register: this.registry, prefix: 'mqbridge_process_' });
  }

  refused(reason: RefusalReason): void {
    this.refusals.inc({ reason });
  }
}
