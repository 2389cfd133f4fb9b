import { createHash } from 'node:crypto';
import { readFile } from 'node:fs/promises';
import { ConfigError, parseConfigText } from './load.js';
import type { BridgeConfig } from './schema.js';

export interface WatchHandlers {
  onChange(config: BridgeConfig): Promise<void> | void;
  onInvalid(err: ConfigError): void;
}

/**
 * Polls the config file for changes. Polling, not fs.watch: a Kubernetes ConfigMap volume
 * swaps a symlinked directory, which file watches lose track of; a poll of a small file
 * every second costs nothing and never misses an update.
 */
export class ConfigWatcher {
  private timer: NodeJS.Timeout | undefined;
  private busy = false;

  constructor(
    private readonly path: string,
    private lastHash: string,
    private readonly pollMs: number,
    private readonly handlers: WatchHandlers,
  ) {}

  static hash(text: string): string {
    return createHash('sha256').update(text).digest('hex');
  }

  start(): void {
    this.timer = setInterval(() => void this.check(), this.pollMs);
    this.timer.unref();
  }

  stop(): void {
    clearInterval(this.timer);
  }

  async check(): Promise<void> {
    if (this.busy) return;
    this.busy = true;
    try {
      const text = await readFile(this.path, 'utf8').catch(() => undefined);
      if (text === undefined) return; // mid-swap or briefly absent: keep what runs
      const hash = ConfigWatcher.hash(text);
      if (hash === this.lastHash) return;
      this.lastHash = hash;
      try {
        await this.handlers.onChange(parseConfigText(text, this.path));
      } catch (err) {
        if (err instanceof ConfigError) this.handlers.onInvalid(err);
        else throw err;
      }
    } finally {
      this.busy = false;
    }
  }
}
