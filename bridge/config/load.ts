import { readFile } from 'node:fs/promises';
import { parse as parseYaml } from 'yaml';
import type { z } from 'zod';
import { configSchema, type BridgeConfig } from './schema.js';

export class ConfigError extends Error {
  constructor(
    readonly source: string,
    readonly problems: string[],
  ) {
    super(`invalid config ${source}:\n${problems.map((p) => `  - ${p}`).join('\n')}`);
    this.name = 'ConfigError';
  }
}

function describeIssue(issue: z.core.$ZodIssue): string {
  const path = issue.path.map((p) => (typeof p === 'number' ? `[${p}]` : `.${String(p)}`)).join('');
  return `${path.replace(/^\./, '') || '(root)'}: ${issue.message}`;
}

/** Validates an already-parsed document; every problem is reported with the path of its field. */
export function parseConfig(doc: unknown, source = '(inline)'): BridgeConfig {
  const result = configSchema.safeParse(doc ?? {});
  if (!result.success) throw new ConfigError(source, result.error.issues.map(describeIssue));
  return result.data;
}

export function parseConfigText(text: string, source = '(inline)'): BridgeConfig {
  let doc: unknown;
  try {
    doc = parseYaml(text);
  } catch (err) {
    throw new ConfigError(source, [`not valid YAML: ${(err as Error).message}`]);
  }
  return parseConfig(doc, source);
}

export async function loadConfigFile(path: string): Promise<{ config: BridgeConfig; text: string }> {
  let text: string;
  try {
    text = await readFile(path, 'utf8');
  } catch (err) {
    throw new ConfigError(path, [`cannot read: ${(err as Error).message}`]);
  }
  return { config: parseConfigText(text, path), text };
}
