import type { KubeConfig } from '@kubernetes/client-node';
import type { Logger } from 'pino';
import { ConfigMapSource, type ConfigMapRef } from './configmap-source.js';
import { ConfigError, parseConfigText } from './load.js';
import { configHash } from './report.js';
import type { BridgeConfig } from './schema.js';
import { ConfigWatcher } from './watch.js';

export interface FollowerOptions {
  path: string;
  /** The file text the bridge started with. */
  initialText: string;
  /** The `reload` section the bridge started with; each config put in force brings its own. */
  reload: BridgeConfig['reload'];
  /** The pod's API credentials, read when a ConfigMap is to be followed; without them, only its mounted file is. */
  kubeConfig(): KubeConfig | undefined;
  /** Puts a config in force; resolves once it is. */
  apply(config: BridgeConfig, hash: string): Promise<void>;
  onResult(result: 'applied' | 'invalid' | 'ignored', source: 'file' | 'configmap'): void;
  onSourceUp?(up: boolean): void;
  log: Logger;
}

/**
 * Whether a config text (by hash) replaces the one in force. The API is ordered: any text other
 * than the one in force is newer. The file is not while the ConfigMap is followed: the kubelet
 * may write a text the API already replaced, so then only a never-seen text (a missed watch
 * event) applies. Pure.
 */
export function takesText(source: 'file' | 'configmap', hash: string, inForce: string, onceInForce: ReadonlySet<string>, followingConfigMap: boolean): boolean {
  if (hash === inForce) return false;
  return source === 'configmap' || !followingConfigMap || !onceInForce.has(hash);
}

/** How many texts are remembered as once in force, to tell a stale file from a new one. */
const REMEMBERED = 32;

/**
 * Follows the config from its file and, in a pod with API credentials, from its ConfigMap
 * through the API server, and applies each new text in turn. The API is the fresher of the two:
 * the kubelet writes the mounted file up to a minute late, and may still write a text the API
 * already replaced. So while the ConfigMap is followed, a file text applies only if it was never
 * in force (the watch may have missed it); a text from the API applies whenever it differs from
 * the one in force (a revert included).
 */
export class ConfigFollower {
  private hashInForce: string;
  private refused: { hash: string; problems: string[] } | undefined;
  private readonly once = new Set<string>();
  private queue: Promise<void> = Promise.resolve();
  private readonly watcher: ConfigWatcher;
  private source: { ref: ConfigMapRef; watch: ConfigMapSource } | undefined;
  private started = false;

  constructor(private readonly opts: FollowerOptions) {
    this.hashInForce = configHash(opts.initialText);
    this.remember(this.hashInForce);
    this.watcher = new ConfigWatcher(opts.path, this.hashInForce, opts.reload.pollMs, {
      onChange: (config, hash) => this.enqueue(() => this.fromFile(config, hash)),
      onInvalid: (err, hash) => this.refuse(err, hash, 'file'),
      onWatchError: (err) => opts.log.warn({ err: err.message }, 'cannot watch the config directory; polling only'),
    });
    this.followConfigMap(opts.reload.configMap);
  }

  /** The ConfigMap followed through the API server, if any. */
  get configMap(): ConfigMapRef | undefined {
    return this.source?.ref;
  }

  /** Takes the `reload` section of a config put in force: the poll interval and the ConfigMap to follow. */
  follow(reload: BridgeConfig['reload']): void {
    this.watcher.setPollMs(reload.pollMs);
    this.followConfigMap(reload.configMap);
  }

  private followConfigMap(ref: ConfigMapRef | undefined): void {
    if (sameConfigMap(ref, this.source?.ref) || (ref === undefined && this.source === undefined)) return;
    if (this.source) {
      this.source.watch.stop();
      this.source = undefined;
      this.opts.onSourceUp?.(false);
    }
    if (!ref) return;
    const { log } = this.opts;
    const kubeConfig = this.opts.kubeConfig();
    const name = `${ref.namespace}/${ref.name}`;
    if (!kubeConfig) return log.info({ configMap: name }, 'no API credentials (not in a pod): following the config file only');
    const watch = new ConfigMapSource(ref, kubeConfig, {
      onText: (text) => this.enqueue(() => this.fromConfigMap(text, ref)),
      onConnected: () => this.opts.onSourceUp?.(true),
      onError: (err, retryInMs) => {
        this.opts.onSourceUp?.(false);
        log.warn({ configMap: name, err: err.message, retryInMs }, 'cannot watch the ConfigMap; following the mounted file meanwhile');
      },
    });
    this.source = { ref, watch };
    if (this.started) watch.start();
  }

  /** sha256 of the config text in force. */
  get hash(): string {
    return this.hashInForce;
  }

  /** The newest text that could not be loaded, while none newer is in force. */
  get rejected(): { hash: string; problems: string[] } | undefined {
    return this.refused;
  }

  start(): void {
    this.started = true;
    this.watcher.start();
    this.source?.watch.start();
  }

  stop(): void {
    this.started = false;
    this.watcher.stop();
    this.source?.watch.stop();
  }

  private enqueue(work: () => Promise<void>): void {
    this.queue = this.queue.then(work, work);
  }

  private async fromFile(config: BridgeConfig, hash: string): Promise<void> {
    if (!takesText('file', hash, this.hashInForce, this.once, this.source !== undefined)) return this.opts.onResult('ignored', 'file');
    await this.put(config, hash, 'file');
  }

  private async fromConfigMap(text: string, ref: ConfigMapRef): Promise<void> {
    // A text of a ConfigMap no longer followed, queued before the switch.
    if (!sameConfigMap(ref, this.source?.ref)) return;
    const hash = configHash(text);
    if (!takesText('configmap', hash, this.hashInForce, this.once, true)) return;
    let config: BridgeConfig;
    try {
      config = parseConfigText(text, `ConfigMap ${ref.namespace}/${ref.name}`);
    } catch (err) {
      if (err instanceof ConfigError) return this.refuse(err, hash, 'configmap');
      throw err;
    }
    await this.put(config, hash, 'configmap');
  }

  private async put(config: BridgeConfig, hash: string, source: 'file' | 'configmap'): Promise<void> {
    await this.opts.apply(config, hash);
    this.follow(config.reload);
    this.hashInForce = hash;
    this.refused = undefined;
    this.remember(hash);
    this.opts.onResult('applied', source);
  }

  private refuse(err: ConfigError, hash: string, source: 'file' | 'configmap'): void {
    this.refused = { hash, problems: err.problems };
    this.remember(hash);
    this.opts.onResult('invalid', source);
    this.opts.log.error({ source, problems: err.problems }, 'new config is invalid; keeping the one in force');
  }

  private remember(hash: string): void {
    this.once.delete(hash);
    this.once.add(hash);
    if (this.once.size > REMEMBERED) this.once.delete(this.once.values().next().value!);
  }
}

function sameConfigMap(a: ConfigMapRef | undefined, b: ConfigMapRef | undefined): boolean {
  return a !== undefined && b !== undefined && a.namespace === b.namespace && a.name === b.name && a.key === b.key;
}
