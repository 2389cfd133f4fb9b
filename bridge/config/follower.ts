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
  pollMs: number;
  /** With credentials: the ConfigMap is also followed through the API server. */
  configMap?: { ref: ConfigMapRef; kc: KubeConfig };
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
  private readonly source: ConfigMapSource | undefined;

  constructor(private readonly opts: FollowerOptions) {
    this.hashInForce = configHash(opts.initialText);
    this.remember(this.hashInForce);
    this.watcher = new ConfigWatcher(opts.path, this.hashInForce, opts.pollMs, {
      onChange: (config, hash) => this.enqueue(() => this.fromFile(config, hash)),
      onInvalid: (err, hash) => this.refuse(err, hash, 'file'),
      onWatchError: (err) => opts.log.warn({ err: err.message, pollMs: opts.pollMs }, 'cannot watch the config directory; polling only'),
    });
    if (opts.configMap) {
      const { ref, kc } = opts.configMap;
      this.source = new ConfigMapSource(ref, kc, {
        onText: (text) => this.enqueue(() => this.fromConfigMap(text)),
        onConnected: () => opts.onSourceUp?.(true),
        onError: (err, retryInMs) => {
          opts.onSourceUp?.(false);
          opts.log.warn({ configMap: `${ref.namespace}/${ref.name}`, err: err.message, retryInMs }, 'cannot watch the ConfigMap; following the mounted file meanwhile');
        },
      });
    }
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
    this.watcher.start();
    this.source?.start();
  }

  stop(): void {
    this.watcher.stop();
    this.source?.stop();
  }

  private enqueue(work: () => Promise<void>): void {
    this.queue = this.queue.then(work, work);
  }

  private async fromFile(config: BridgeConfig, hash: string): Promise<void> {
    if (!takesText('file', hash, this.hashInForce, this.once, this.source !== undefined)) return this.opts.onResult('ignored', 'file');
    await this.put(config, hash, 'file');
  }

  private async fromConfigMap(text: string): Promise<void> {
    const hash = configHash(text);
    if (!takesText('configmap', hash, this.hashInForce, this.once, true)) return;
    const ref = this.opts.configMap!.ref;
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
