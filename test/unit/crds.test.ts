// Static checks of the CustomResourceDefinitions in crds/ and of their mirror in
// operator/api/types.ts. What only an API server can tell (CEL compiles, cost budget, the
// messages users see) is checked against a real kube-apiserver elsewhere.
import { readFileSync } from 'node:fs';
import { parse } from 'yaml';
import { parseConfig } from '../../bridge/config/load.js';
import {
  API_VERSION,
  CATEGORY,
  DIRECTIONS,
  GROUP,
  IMAGE_PULL_POLICIES,
  LOG_LEVELS,
  MQTT_BRIDGE_DEFAULTS,
  MQTT_BRIDGE_KIND,
  MQTT_BRIDGE_NAME_MAX_LENGTH,
  MQTT_BRIDGE_PLURAL,
  MQTT_BRIDGE_SHORT_NAME,
  MQTT_BRIDGE_SINGULAR,
  PATTERNS,
  SERVICE_TYPES,
  TOPIC_BINDING_DEFAULTS,
  TOPIC_BINDING_KIND,
  TOPIC_BINDING_PLURAL,
  TOPIC_BINDING_SHORT_NAME,
  TOPIC_BINDING_SINGULAR,
  VERSION,
} from '../../operator/api/types.js';

// ------------------------------------------------------------------------------- loading

interface Rule {
  rule: string;
  message?: string;
  messageExpression?: string;
  fieldPath?: string;
}

interface Schema {
  type?: string;
  format?: string;
  description?: string;
  properties?: Record<string, Schema>;
  items?: Schema;
  additionalProperties?: Schema | boolean;
  anyOf?: Schema[];
  required?: string[];
  enum?: unknown[];
  default?: unknown;
  pattern?: string;
  minimum?: number;
  maximum?: number;
  maxLength?: number;
  maxItems?: number;
  maxProperties?: number;
  'x-kubernetes-preserve-unknown-fields'?: boolean;
  'x-kubernetes-int-or-string'?: boolean;
  'x-kubernetes-validations'?: Rule[];
}

interface Crd {
  apiVersion: string;
  kind: string;
  metadata: { name: string };
  spec: {
    group: string;
    scope: string;
    names: { kind: string; listKind: string; plural: string; singular: string; shortNames: string[]; categories: string[] };
    versions: {
      name: string;
      served: boolean;
      storage: boolean;
      subresources?: { status?: object; scale?: { specReplicasPath: string; statusReplicasPath: string; labelSelectorPath?: string } };
      additionalPrinterColumns?: { name: string; type: string; jsonPath: string; priority?: number }[];
      schema: { openAPIV3Schema: Schema };
    }[];
  };
}

function loadCrd(file: string): Crd {
  // Runs from dist/test/unit/, so the repository root is three levels up.
  const text = readFileSync(new URL(`../../../crds/${file}`, import.meta.url), 'utf8');
  return parse(text) as Crd;
}

const CRDS = {
  MqttBridge: { kind: MQTT_BRIDGE_KIND, file: 'mqbridge.dev_mqttbridges.yaml', plural: MQTT_BRIDGE_PLURAL, singular: MQTT_BRIDGE_SINGULAR, shortName: MQTT_BRIDGE_SHORT_NAME },
  TopicBinding: { kind: TOPIC_BINDING_KIND, file: 'mqbridge.dev_topicbindings.yaml', plural: TOPIC_BINDING_PLURAL, singular: TOPIC_BINDING_SINGULAR, shortName: TOPIC_BINDING_SHORT_NAME },
} as const;
type KindName = keyof typeof CRDS;
const KINDS = Object.keys(CRDS) as KindName[];

const loaded = Object.fromEntries(KINDS.map((k) => [k, loadCrd(CRDS[k].file)])) as Record<KindName, Crd>;
const schemaOf = (kind: KindName): Schema => {
  const version = loaded[kind].spec.versions[0];
  if (!version) throw new Error(`${kind}: no version`);
  return version.schema.openAPIV3Schema;
};

/** Every schema node with its path (`spec.mqtt.port`, `spec.tolerations[]`, `spec.nodeSelector{}`). */
function* walk(schema: Schema, path = ''): Generator<[string, Schema]> {
  yield [path || '(root)', schema];
  for (const [name, child] of Object.entries(schema.properties ?? {})) yield* walk(child, path ? `${path}.${name}` : name);
  if (schema.items) yield* walk(schema.items, `${path}[]`);
  if (typeof schema.additionalProperties === 'object') yield* walk(schema.additionalProperties, `${path}{}`);
  for (const [i, branch] of (schema.anyOf ?? []).entries()) yield* walk(branch, `${path}<anyOf ${i}>`);
}

function nodeAt(kind: KindName, path: string): Schema {
  let node: Schema | undefined = schemaOf(kind);
  for (const name of path.split('.')) node = node?.properties?.[name];
  if (!node) throw new Error(`${kind}: no field ${path}`);
  return node;
}

/** The defaults of a schema as a nested object, leaving out objects that default to `{}`. */
function defaultsOf(schema: Schema): unknown {
  const out: Record<string, unknown> = {};
  for (const [name, child] of Object.entries(schema.properties ?? {})) {
    const isEmptyObject = typeof child.default === 'object' && child.default !== null && Object.keys(child.default).length === 0;
    if (child.default !== undefined && !isEmptyObject) out[name] = child.default;
    else if (child.properties) {
      const nested = defaultsOf(child) as Record<string, unknown>;
      if (Object.keys(nested).length > 0) out[name] = nested;
    }
  }
  return out;
}

/** The regular expression of a `self.matches('...')` rule on a field. */
function celRegex(kind: KindName, path: string): string {
  const rules = nodeAt(kind, path)['x-kubernetes-validations'] ?? [];
  const found = rules.map((r) => /^self\.matches\('([^'\\]*)'\)$/.exec(r.rule.trim())?.[1]).filter((r) => r !== undefined);
  if (found.length !== 1) throw new Error(`${kind} ${path}: expected one self.matches rule, found ${found.length}`);
  return found[0] as string;
}

// --------------------------------------------------------------------------------- tests

describe.each(KINDS)('%s CRD', (kind) => {
  const crd = loaded[kind];
  const names = CRDS[kind];

  test('names, group, scope and version', () => {
    expect(crd.apiVersion).toBe('apiextensions.k8s.io/v1');
    expect(crd.kind).toBe('CustomResourceDefinition');
    expect(crd.metadata.name).toBe(`${names.plural}.${GROUP}`);
    expect(crd.spec.group).toBe(GROUP);
    expect(API_VERSION).toBe(`${GROUP}/${VERSION}`);
    expect(crd.spec.scope).toBe('Namespaced');
    expect(names.kind).toBe(kind);
    expect(crd.spec.names).toEqual({
      kind: names.kind,
      listKind: `${kind}List`,
      plural: names.plural,
      singular: names.singular,
      shortNames: [names.shortName],
      categories: [CATEGORY],
    });
    expect(crd.spec.versions.map((v) => [v.name, v.served, v.storage])).toEqual([[VERSION, true, true]]);
    expect(crd.spec.versions[0]?.subresources?.status).toEqual({});
  });

  test('the schema is structural', () => {
    const problems: string[] = [];
    for (const [path, node] of walk(schemaOf(kind))) {
      const inAnyOf = path.endsWith('>');
      if (inAnyOf) {
        // Inside anyOf only value validations are allowed, and types only for int-or-string.
        const extra = Object.keys(node).filter((k) => k !== 'type');
        if (extra.length) problems.push(`${path}: ${extra.join(', ')} not allowed in anyOf`);
        continue;
      }
      const typed = node.type !== undefined || node['x-kubernetes-int-or-string'] === true || node['x-kubernetes-preserve-unknown-fields'] === true;
      if (!typed) problems.push(`${path}: no type`);
      if (node['x-kubernetes-int-or-string'] && (node.type !== undefined || node.anyOf?.length !== 2)) {
        problems.push(`${path}: int-or-string needs anyOf [integer, string] and no type`);
      }
      if (node.type === 'object' && node.properties && node.additionalProperties) problems.push(`${path}: properties and additionalProperties`);
      if (node.type === 'array' && !node.items) problems.push(`${path}: array without items`);
      for (const r of node.required ?? []) if (!node.properties?.[r]) problems.push(`${path}: required ${r} is not a property`);
    }
    expect(problems).toEqual([]);
  });

  test('every field has a description (kubectl explain)', () => {
    const missing = [...walk(schemaOf(kind))]
      .filter(([path]) => !/[[{<]/.test(path) && path !== 'metadata')
      .filter(([, node]) => !node.description?.trim())
      .map(([path]) => path);
    expect(missing).toEqual([]);
  });

  test('every validation rule has a message and bounded input', () => {
    const problems: string[] = [];
    for (const [path, node] of walk(schemaOf(kind))) {
      for (const rule of node['x-kubernetes-validations'] ?? []) {
        if (!rule.message?.trim() && !rule.messageExpression?.trim()) problems.push(`${path}: rule "${rule.rule}" has no message`);
      }
      // The API server estimates a rule's cost from the size of what it reads; unbounded strings,
      // lists and maps blow the budget.
      if (node['x-kubernetes-validations']) {
        if (node.type === 'string' && node.maxLength === undefined && !node.enum) problems.push(`${path}: string rule without maxLength`);
        if (node.type === 'array' && node.maxItems === undefined) problems.push(`${path}: list rule without maxItems`);
        if (node.type === 'object' && node.additionalProperties && node.maxProperties === undefined) problems.push(`${path}: map rule without maxProperties`);
      }
    }
    expect(problems).toEqual([]);
  });

  test('printer columns and scale paths name fields of the schema', () => {
    const version = crd.spec.versions[0];
    const paths = [
      ...(version?.additionalPrinterColumns ?? []).map((c) => c.jsonPath),
      ...Object.values(version?.subresources?.scale ?? {}),
    ];
    for (const jsonPath of paths) {
      if (jsonPath === '.metadata.creationTimestamp') continue;
      const fieldPath = jsonPath.replace(/^\./, '').replace(/\[\?.*$/, '');
      expect(() => nodeAt(kind, fieldPath)).not.toThrow();
    }
  });
});

describe('MqttBridge schema', () => {
  test('defaults equal MQTT_BRIDGE_DEFAULTS', () => {
    expect(defaultsOf(nodeAt('MqttBridge', 'spec'))).toEqual(MQTT_BRIDGE_DEFAULTS);
  });

  test('mqtt and service default to {} so their fields are always filled in', () => {
    expect(nodeAt('MqttBridge', 'spec.mqtt').default).toEqual({});
    expect(nodeAt('MqttBridge', 'spec.service').default).toEqual({});
  });

  test('the mqtt defaults and bounds are accepted by the bridge config as they are', () => {
    const bridgeDefaults = parseConfig({}).mqtt;
    expect(bridgeDefaults).toMatchObject(MQTT_BRIDGE_DEFAULTS.mqtt);
    for (const [field, node] of Object.entries(nodeAt('MqttBridge', 'spec.mqtt').properties ?? {})) {
      for (const value of [node.minimum, node.maximum]) {
        if (value === undefined) continue;
        expect(() => parseConfig({ mqtt: { [field]: value } })).not.toThrow();
      }
    }
    expect(parseConfig({}).log.level).toBe(MQTT_BRIDGE_DEFAULTS.logLevel);
  });

  test.each([
    ['spec.imagePullPolicy', IMAGE_PULL_POLICIES],
    ['spec.service.type', SERVICE_TYPES],
    ['spec.logLevel', LOG_LEVELS],
  ])('enum %s matches types.ts', (path, values) => {
    expect(nodeAt('MqttBridge', path).enum).toEqual([...values]);
  });

  test('scale subresource and columns', () => {
    const version = loaded.MqttBridge.spec.versions[0];
    expect(version?.subresources?.scale).toEqual({
      specReplicasPath: '.spec.replicas',
      statusReplicasPath: '.status.replicas',
      labelSelectorPath: '.status.selector',
    });
    expect(version?.additionalPrinterColumns?.map((c) => c.name)).toEqual(['Replicas', 'Ready', 'Configured', 'Bindings', 'Endpoint', 'Status', 'Age']);
    expect(nodeAt('MqttBridge', 'spec.replicas')).toMatchObject({ type: 'integer', format: 'int32', minimum: 0, maximum: 1000 });
  });

  test('the name rule is PATTERNS.mqttBridgeName and MQTT_BRIDGE_NAME_MAX_LENGTH', () => {
    const [rule, ...more] = schemaOf('MqttBridge')['x-kubernetes-validations'] ?? [];
    expect(more).toEqual([]);
    expect(rule?.rule).toBe(
      `self.metadata.name.size() <= ${MQTT_BRIDGE_NAME_MAX_LENGTH} && self.metadata.name.matches('${PATTERNS.mqttBridgeName}')`,
    );
    // The Service name the operator derives must stay a DNS-1035 label.
    expect(MQTT_BRIDGE_NAME_MAX_LENGTH + '-mqtt'.length).toBeLessThanOrEqual(63);
  });

  test.each([
    ['edge', true],
    ['edge-1', true],
    ['e', true],
    ['a'.repeat(MQTT_BRIDGE_NAME_MAX_LENGTH), true],
    ['1edge', false],
    ['edge.eu', false],
    ['edge-', false],
    ['Edge', false],
    ['edge_1', false],
  ])('bridge name %j valid: %s', (name, valid) => {
    expect(new RegExp(PATTERNS.mqttBridgeName).test(name)).toBe(valid);
  });

  test('rules', () => {
    expect(nodeAt('MqttBridge', 'spec')['x-kubernetes-validations']?.map((r) => r.message).join('\n')).toContain('more than one bridge pod');
    expect(nodeAt('MqttBridge', 'spec.sessionStore.redis')['x-kubernetes-validations']?.[0]?.rule).toBe('has(self.url) != has(self.urlSecret)');
    expect(nodeAt('MqttBridge', 'spec.autoscaling')['x-kubernetes-validations']?.[0]?.rule).toContain('self.maxReplicas >= self.minReplicas');
    expect(nodeAt('MqttBridge', 'spec.service')['x-kubernetes-validations']?.[0]?.rule).toContain("self.type in ['NodePort', 'LoadBalancer']");
  });
});

describe('TopicBinding schema', () => {
  test('defaults equal TOPIC_BINDING_DEFAULTS and the bridge config', () => {
    expect(defaultsOf(nodeAt('TopicBinding', 'spec'))).toEqual(TOPIC_BINDING_DEFAULTS);
    const [binding] = parseConfig({ bindings: [{ mqttParentTopic: 'abc', rocketmqTopic: 'T' }] }).bindings;
    expect(binding).toMatchObject(TOPIC_BINDING_DEFAULTS);
  });

  test('directions are the contract\'s (contract/rules.ts), which the bridge config takes too', () => {
    expect(nodeAt('TopicBinding', 'spec.direction').enum).toEqual([...DIRECTIONS]);
  });

  test.each([
    ['spec.bridge', 'spec.bridge is immutable; create a new TopicBinding'],
    ['spec.mqttParentTopic', 'spec.mqttParentTopic is immutable'],
  ])('%s is immutable', (path, message) => {
    const rule = nodeAt('TopicBinding', path)['x-kubernetes-validations']?.find((r) => r.rule === 'self == oldSelf');
    expect(rule?.message).toContain(message);
  });

  test('required fields', () => {
    expect(nodeAt('TopicBinding', 'spec').required).toEqual(['bridge', 'mqttParentTopic', 'rocketmqTopic']);
  });
});

// Each pattern as the CRD has it, what types.ts says it is, and example values.
const PATTERN_CASES: {
  kind: KindName;
  path: string;
  key: keyof typeof PATTERNS;
  accept: string[];
  refuse: string[];
}[] = [
  {
    kind: 'MqttBridge',
    path: 'spec.rocketmq.endpoints',
    key: 'rocketmqEndpoints',
    accept: [
      '127.0.0.1:8081',
      'rocketmq-proxy:8081',
      'rocketmq-proxy.rocketmq.svc:8081',
      'rocketmq-proxy.rocketmq.svc.cluster.local:8081',
      'rmq-0.rmq.1ns.svc:8081',
      'localhost:1',
      'a:65535',
      'Proxy.Example.COM:443',
      '10.0.0.7:8081;10.0.0.8:8081',
      'a.example:1;10.0.0.1:2;b.example:3',
      '255.255.255.255:9876',
      `${'a'.repeat(63)}.example:80`,
    ],
    refuse: [
      '',
      'rocketmq-proxy',
      'rocketmq-proxy:',
      ':8081',
      'host:0',
      'host:65536',
      'host:08081',
      'host:80a',
      '256.0.0.1:8081',
      '1.2.3:8081',
      '01.2.3.4:8081',
      '1.2.3.4.5:8081',
      '-proxy:8081',
      'proxy-:8081',
      'proxy..svc:8081',
      'proxy.svc.:8081',
      'pro_xy:8081',
      `${'a'.repeat(64)}.example:80`,
      'a:1;',
      ';a:1',
      'a:1;;b:2',
      'a:1, b:2',
      'a:1; b:2',
      'a:1,b:2',
      '[::1]:8081',
      'http://proxy:8081',
      'proxy:8081/',
    ],
  },
  {
    kind: 'MqttBridge',
    path: 'spec.rocketmq.credentialsSecret.name',
    key: 'dns1123Subdomain',
    accept: ['rocketmq-credentials', 'a', '0', 'rocketmq.credentials', 'a-b.c-d'],
    refuse: ['', 'RocketMQ', 'rocketmq_credentials', '-a', 'a-', 'a..b', '.a', 'a.', 'a b'],
  },
  {
    kind: 'MqttBridge',
    path: 'spec.rocketmq.credentialsSecret.accessKeyKey',
    key: 'secretKey',
    accept: ['accessKey', 'access-key', 'access_key', 'ACCESS.KEY', '.hidden'],
    refuse: ['', 'access key', 'access/key', 'key='],
  },
  {
    kind: 'MqttBridge',
    path: 'spec.rocketmq.credentialsSecret.secretKeyKey',
    key: 'secretKey',
    accept: ['secretKey'],
    refuse: ['secret key'],
  },
  {
    kind: 'MqttBridge',
    path: 'spec.rocketmq.consumerGroup',
    key: 'consumerGroup',
    accept: ['mqbridge-edge', 'GID_devices', '%RETRY%x', 'a|b', 'g'.repeat(127)],
    refuse: ['', 'my group', 'a.b', 'a/b', 'g'.repeat(128)],
  },
  {
    kind: 'TopicBinding',
    path: 'spec.bridge',
    key: 'dns1123Subdomain',
    accept: ['edge', 'edge-1', 'edge.eu-west'],
    refuse: ['', 'Edge', 'edge_1', 'edge/1'],
  },
  {
    kind: 'TopicBinding',
    path: 'spec.mqttParentTopic',
    key: 'mqttParentTopic',
    accept: ['abc', 'sensors', 'SENSORS_v2', 'a-b', 'x'.repeat(64)],
    refuse: ['', 'ab', 'x'.repeat(65), 'a/b', 'sensors/', '+', '#', '$SYS', 'a b', 'ä-bc'],
  },
  {
    kind: 'TopicBinding',
    path: 'spec.rocketmqTopic',
    key: 'rocketmqTopic',
    accept: ['T', 'devices-telemetry', 'MQ_INST_1|topic', '%RETRY%x', 't'.repeat(127)],
    refuse: ['', 'bad topic', 'a.b', 'a/b', 't'.repeat(128)],
  },
];

describe.each(PATTERN_CASES)('$kind $path pattern', ({ kind, path, key, accept, refuse }) => {
  const source = celRegex(kind, path);
  const re = new RegExp(source);

  test(`is PATTERNS.${key}`, () => {
    expect(source).toBe(PATTERNS[key]);
  });

  test.each(accept)('accepts %j', (value) => {
    expect(re.test(value)).toBe(true);
  });

  test.each(refuse)('refuses %j', (value) => {
    expect(re.test(value)).toBe(false);
  });
});
