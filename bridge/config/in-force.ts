import { RELOADABLE_SECTIONS } from '../../contract/rules.js';
import { BindingTable } from '../mapping/bindings.js';
import type { BridgeConfig } from './schema.js';

const RELOADABLE = new Set<string>(RELOADABLE_SECTIONS);

/**
 * The config a bridge runs by. A reload replaces what hot-reloads (contract/rules.ts) and keeps
 * the rest until a restart; the parts read the bindings through here, so none holds a stale table.
 */
export class ConfigInForce {
  private current: BridgeConfig;
  private bindingTable: BindingTable;
  private pending: string[] = [];

  constructor(config: BridgeConfig) {
    this.current = config;
    this.bindingTable = new BindingTable(config.bindings);
  }

  get config(): BridgeConfig {
    return this.current;
  }

  get table(): BindingTable {
    return this.bindingTable;
  }

  /** Sections of the last config put in force that differ from the running ones and wait for a restart. */
  get restartPending(): readonly string[] {
    return this.pending;
  }

  /** Puts the reloadable sections of `next` in force; returns the sections that wait for a restart. */
  put(next: BridgeConfig): readonly string[] {
    this.pending = sectionsNeedingRestart(this.current, next);
    const live = Object.fromEntries(RELOADABLE_SECTIONS.map((key) => [key, next[key]]));
    this.current = { ...this.current, ...live };
    this.bindingTable = new BindingTable(next.bindings);
    return this.pending;
  }
}

export function sectionsNeedingRestart(running: BridgeConfig, next: BridgeConfig): string[] {
  return (Object.keys(running) as (keyof BridgeConfig)[]).filter((key) => !RELOADABLE.has(key) && JSON.stringify(running[key]) !== JSON.stringify(next[key]));
}
