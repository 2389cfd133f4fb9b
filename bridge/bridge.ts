import type { BridgeConfig } from './config/schema.js';
import { kubeConfigFor } from './config/configmap-source.js';
import { ConfigFollower } from './config/follower.js';
import { configHash, type ConfigReport } from './config/report.js';
import { assembleBridge, bindingsReport, startingState, type BridgeParts } from './assembly.js';
import { readinessOf } from './http/readiness.js';
import type { Readiness } from './http/server.js';
import type { BindingTable } from './mapping/bindings.js';
import { closeBroker } from './mqtt/close-broker.js';
import { closeServer } from './mqtt/listeners.js';
import type { ListenerName } from './mqtt/listener-set.js';
import type { Logger } from './observability/log.js';
import type { BridgeMetrics } from './observability/metrics.js';

/** How long a stop waits for connections that were already closing to finish their last writes. */
const CLIENTS_CLOSE_WAIT_MS = 3_000;

export interface BridgeOptions {
  /** Watched for binding changes when given. */
  configPath?: string;
  configText?: string;
  /** Credentials to follow the ConfigMap with, when not the pod's own service account. */
  kubeconfig?: string;
  log?: Logger;
}

/** One bridge process: MQTT server, RocketMQ producer and consumers, HTTP endpoints (parts: assembly.ts). */
export class Bridge {
  private stopping = false;
  private readonly follower: ConfigFollower | undefined;

  private constructor(
    private readonly parts: BridgeParts,
    private readonly options: BridgeOptions,
  ) {
    this.follower = options.configPath ? this.followConfig(options.configPath) : undefined;
  }

  static async start(config: BridgeConfig, options: BridgeOptions = {}): Promise<Bridge> {
    const bridge = new Bridge(await assembleBridge(config, options), options);
    bridge.parts.status.serve(bridge);
    bridge.follower?.start();
    const { listeners, log, inForce } = bridge.parts;
    log.info({ mqtt: bridge.mqttPort, http: bridge.httpPort, tokenApi: bridge.tokenApiPort, listeners: listeners.ports(), bindings: inForce.table.size }, 'bridge listening');
    return bridge;
  }

  get metrics(): BridgeMetrics {
    return this.parts.metrics;
  }

  get log(): Logger {
    return this.parts.log;
  }

  /** The bound port of a listener (useful with port 0), or 0 when it is not enabled. */
  portOf(listener: ListenerName): number {
    return this.parts.listeners.portOf(listener);
  }

  get mqttPort(): number {
    return this.portOf('tcp');
  }

  get tokenApiPort(): number {
    return this.portOf('tokenApi');
  }

  get httpPort(): number {
    const address = this.parts.http.address();
    return typeof address === 'object' && address ? address.port : 0;
  }

  get bindings(): BindingTable {
    return this.parts.inForce.table;
  }

  /** The config in force: its file's hash, the bindings it serves, what waits for a restart. */
  configReport(): ConfigReport {
    const { inForce } = this.parts;
    const rejected = this.follower?.rejected;
    return {
      hash: this.follower?.hash ?? configHash(this.options.configText ?? ''),
      bindings: bindingsReport(inForce.config),
      restartPending: [...inForce.restartPending],
      ...(rejected ? { rejected } : {}),
    };
  }

  /** The file, and the ConfigMap through the API server when the config names it and credentials exist. */
  private followConfig(path: string): ConfigFollower {
    const { inForce, metrics, log } = this.parts;
    return new ConfigFollower({
      path,
      initialText: this.options.configText ?? '',
      reload: inForce.config.reload,
      kubeConfig: () => kubeConfigFor(this.options.kubeconfig),
      apply: (next) => this.reload(next),
      onResult: (result, source) => metrics.reloads.inc({ result, source }),
      onSourceUp: (up) => metrics.configMapWatchUp.set(up ? 1 : 0),
      log,
    });
  }

  readiness(): Readiness {
    return readinessOf({ ...startingState(this.parts), listening: this.parts.listeners.listening, stopping: this.stopping });
  }

  /** Applies a new config: bindings, log level and reload settings live; anything else needs a restart. */
  async reload(next: BridgeConfig): Promise<void> {
    const { inForce, log, metrics, consumers } = this.parts;
    const needsRestart = inForce.put(next);
    if (needsRestart.length > 0) {
      log.warn({ fields: needsRestart }, 'these settings change only on restart; running with the old values');
    }
    log.level = next.log.level;
    // `reload` the follower takes itself once this config is in force (config/follower.ts).
    metrics.bindings.set(inForce.table.size);
    log.info({ bindings: next.bindings.map((b) => `${b.mqttParentTopic}->${b.rocketmqTopic}:${b.direction}`) }, 'bindings reloaded');
    await consumers.setTopics(inForce.table.downlinkByTopic().keys());
  }

  /**
   * Graceful stop: refuse new connections, stop taking RocketMQ messages, let in-flight
   * uplink sends finish (their PUBACKs still reach the devices), then disconnect everyone.
   */
  async stop(): Promise<void> {
    if (this.stopping) return;
    this.stopping = true;
    const { log, uplink, listeners, pacer, consumers, inForce, aedes, store, producer, health, auth, http } = this.parts;
    log.info({ inFlight: uplink.inFlight }, 'stopping: no new connections, finishing in-flight sends');
    this.follower?.stop();
    const listenersClosed = listeners.close();
    pacer.close();
    await consumers.stop();
    await withTimeout(uplink.drain(), inForce.config.shutdown.graceMs);
    await closeBroker(aedes, CLIENTS_CLOSE_WAIT_MS);
    await store?.close();
    await listenersClosed;
    await producer.stop();
    health.stop();
    await auth.stop();
    await closeServer(http);
    log.info('stopped');
  }
}

function withTimeout(work: Promise<void>, ms: number): Promise<void> {
  return Promise.race([work, new Promise<void>((resolve) => setTimeout(resolve, ms).unref())]);
}
