/**
 * What a cluster admin allows the operator to do on behalf of whoever may create MqttBridges and
 * TopicBindings: the operator holds rights those users may not have (it creates Deployments and
 * mounts Secrets), so without limits it would be their confused deputy. The policy file
 * (`--policy-file`, the chart's `policy` values) is read at start; every field has a default.
 */
import { readFileSync } from 'node:fs';
import { parse } from 'yaml';
import { z } from 'zod';

/** A Secret a bridge may mount or read must carry this label with the value "true". */
export const SECRET_OPT_IN_LABEL = 'mqbridge.dev/allow-bridges';

const prefixes = z.array(z.string().min(1)).min(1);

const namespaceRules = z.strictObject({
  /** RocketMQ topics the namespace's TopicBindings may name start with one of these. */
  rocketmqTopicPrefixes: prefixes.optional(),
  /** Consumer groups the namespace's MqttBridges may use (default ones included) start with one of these. */
  consumerGroupPrefixes: prefixes.optional(),
});
export type NamespaceRules = z.infer<typeof namespaceRules>;

export const policySchema = z.strictObject({
  /**
   * Images bridge pods may run, `*` matching any run of characters
   * (`registry.example.com/mqbridge/bridge:*`). Empty: the operator's own bridge image, any tag or digest.
   */
  allowedImages: z.array(z.string().min(1)).default([]),
  /**
   * Toleration keys a bridge may not carry, so its pods stay off the nodes these taints guard.
   * A toleration of every taint (no key, operator Exists) is always refused.
   */
  forbiddenTolerationKeys: z.array(z.string().min(1)).default(['node-role.kubernetes.io/control-plane', 'node-role.kubernetes.io/master']),
  tenancy: z
    .strictObject({
      /** Per namespace: the RocketMQ names its objects may use. */
      namespaces: z.record(z.string().min(1), namespaceRules).default({}),
      /** Namespaces without rules may use every topic and group (false) or none (true). */
      restrictUnlisted: z.boolean().default(false),
    })
    .prefault({}),
});

export type OperatorPolicy = z.infer<typeof policySchema> & {
  /** The bridge image of MqttBridges that name none (`--bridge-image`). */
  defaultImage: string;
};

export class PolicyError extends Error {}

/** The policy from YAML text (empty: every default), or a PolicyError naming each bad field. */
export function parsePolicy(text: string, defaultImage: string): OperatorPolicy {
  let doc: unknown;
  try {
    doc = parse(text) ?? {};
  } catch (err) {
    throw new PolicyError(`the policy is not YAML: ${(err as Error).message}`);
  }
  const result = policySchema.safeParse(doc);
  if (!result.success) {
    throw new PolicyError(`invalid policy: ${result.error.issues.map((i) => `${i.path.join('.') || '(root)'}: ${i.message}`).join('; ')}`);
  }
  return { ...result.data, defaultImage };
}

export function loadPolicy(file: string | undefined, defaultImage: string): OperatorPolicy {
  return parsePolicy(file ? readFileSync(file, 'utf8') : '', defaultImage);
}
