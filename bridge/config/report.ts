import { createHash } from 'node:crypto';
import { z } from 'zod';

/**
 * What a bridge pod says about the config it runs, at GET /configz on its HTTP port. The
 * operator reads it from every ready pod to tell whether a binding is in force everywhere:
 * a ConfigMap written is not a ConfigMap loaded (the kubelet refreshes mounted files on its
 * own schedule), so a TopicBinding is Bound only once each ready pod reports it.
 */
export const CONFIG_REPORT_PATH = '/configz';

/** The fields of a binding that decide what it does; a pod has a binding when all of them match. */
const bindingFields = z.object({
  mqttParentTopic: z.string(),
  rocketmqTopic: z.string(),
  direction: z.string(),
  defaultQos: z.number(),
});
export type BindingFields = z.infer<typeof bindingFields>;

const configReport = z.object({
  /** sha256 of the config file text in force (`configHash`), the same text as the ConfigMap's. */
  hash: z.string(),
  bindings: z.array(bindingFields),
  /** Sections that changed in the file but wait for a restart. */
  restartPending: z.array(z.string()),
  /** The newest file text that could not be loaded, if it is newer than the one in force. */
  rejected: z.object({ hash: z.string(), problems: z.array(z.string()) }).optional(),
});
export type ConfigReport = z.infer<typeof configReport>;

export function configHash(text: string): string {
  return createHash('sha256').update(text).digest('hex');
}

/** One string per binding, equal for equal bindings whatever other fields they carry. */
export function bindingKey(b: BindingFields): string {
  return JSON.stringify([b.mqttParentTopic, b.rocketmqTopic, b.direction, b.defaultQos]);
}

/** A report as the operator received it: undefined when the body is not one (an older bridge, a proxy's page). */
export function parseConfigReport(body: unknown): ConfigReport | undefined {
  const parsed = configReport.safeParse(body);
  return parsed.success ? parsed.data : undefined;
}
