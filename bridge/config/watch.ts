import { watch, type FSWatcher } from 'node:fs';
import { readFile } from 'node:fs/promises';
import { basename, dirname } from 'node:path';
import { ConfigError, parseConfigText } from './load.js';
import { configHash } from './report.js';
import type { BridgeConfig } from './schema.js';

export interface WatchHandlers {
  /** `hash`: the file text's `configHash`, which the pod reports once the config is in force. */
  onChange(config: BridgeConfig, hash: string): Promise<void> | void;
  onInvalid(err: ConfigError, hash: string): void;
  /** The directory watch could not be set up or failed; polling alone carries on. */
  onWatchError?(err: Error): void;
}

/** Events come in bursts (a ConfigMap update is a write, a symlink swap and a removal). */
const SETTLE_MS = 25;
/** The symlink a ConfigMap volume swaps on every update. */
const KUBELET_DATA_LINK = '..data';

/**
 * Follows the config file. A watch on its directory notices a change within milliseconds:
 * a Kubernetes ConfigMap volume swaps a symlinked `..data` directory, which a watch on the
 * file itself would lose track of, but the directory sees the swap. Watches can still miss
 * events (inotify limits, network filesystems), so a poll every `pollMs` stays underneath;
 * both only reload when the file's hash changed.
 */
export class ConfigWatcher {
  private timer: NodeJS.Timeout | undefined;
  private settle: NodeJS.Timeout | undefined;
  private dirWatch: FSWatcher | undefined;
  private busy = false;
  private again = false;

  constructor(
    private readonly path: string,
    private lastHash: string,
    private pollMs: number,
    private readonly handlers: WatchHandlers,
  ) {}

  start(): void {
    this.startPolling();
    try {
      // Other files may share the directory (a log the bridge itself writes, in the demo's
      // pods): their events are ignored, so they neither cost reads nor hold a reload back.
      const file = basename(this.path);
      this.dirWatch = watch(dirname(this.path), { persistent: false }, (_event, name) => {
        if (name === null || name === file || name === KUBELET_DATA_LINK) this.soon();
      });
      this.dirWatch.on('error', (err) => this.watchFailed(err));
    } catch (err) {
      this.watchFailed(err as Error);
    }
  }

  /** A new poll interval (`reload.pollMs` of a config put in force), from now on. */
  setPollMs(pollMs: number): void {
    if (pollMs === this.pollMs) return;
    this.pollMs = pollMs;
    if (this.timer === undefined) return; // not polling yet: start() uses it
    clearInterval(this.timer);
    this.startPolling();
  }

  stop(): void {
    clearInterval(this.timer);
    this.timer = undefined;
    clearTimeout(this.settle);
    this.settle = undefined;
    this.dirWatch?.close();
  }

  private startPolling(): void {
    this.timer = setInterval(() => void this.check(), this.pollMs);
    this.timer.unref();
  }

  /** A check shortly after the first event of a burst; later events of it do not postpone it. */
  private soon(): void {
    if (this.settle) return;
    this.settle = setTimeout(() => {
      this.settle = undefined;
      void this.check();
    }, SETTLE_MS);
    this.settle.unref();
  }

  private watchFailed(err: Error): void {
    this.dirWatch?.close();
    this.dirWatch = undefined;
    this.handlers.onWatchError?.(err);
  }

  async check(): Promise<void> {
    if (this.busy) {
      this.again = true; // a change seen mid-check must not wait for the next poll
      return;
    }
    this.busy = true;
    try {
      const text = await readFile(this.path, 'utf8').catch(() => undefined);
      if (text === undefined) return; // mid-swap or briefly absent: keep what runs
      const hash = configHash(text);
      if (hash === this.lastHash) return;
      this.lastHash = hash;
      try {
        await this.handlers.onChange(parseConfigText(text, this.path), hash);
      } catch (err) {
        if (err instanceof ConfigError) this.handlers.onInvalid(err, hash);
        else throw err;
      }
    } finally {
      this.busy = false;
      if (this.again) {
        this.again = false;
        this.soon();
      }
    }
  }
}
