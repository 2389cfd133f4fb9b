import { parse } from 'yaml';
import type { MqttBridge, TopicBinding } from '../../operator/api/types.js';
import { configText, renderBridgeConfig, restartHash } from '../../operator/render/config.js';
import { defaultConsumerGroup } from '../../contract/rules.js';
import { renderObjects } from '../../operator/render/objects.js';
import { parseConfigText } from '../../bridge/config/load.js';

const bridge = (spec: Partial<MqttBridge['spec']> = {}): MqttBridge => ({
  apiVersion: 'mqbridge.dev/v1alpha1',
  kind: 'MqttBridge',
  metadata: { name: 'edge', namespace: 'iot', uid: 'u-1', generation: 1 },
  spec: { rocketmq: { endpoints: 'proxy:8081' }, ...spec },
});
const binding = (name: string, parent: string, extra: Partial<TopicBinding['spec']> = {}): TopicBinding => ({
  apiVersion: 'mqbridge.dev/v1alpha1',
  kind: 'TopicBinding',
  metadata: { name, namespace: 'iot' },
  spec: { bridge: 'edge', mqttParentTopic: parent, rocketmqTopic: parent.toUpperCase(), ...extra },
});

describe('renderBridgeConfig', () => {
  test('the rendered file is a valid bridge config with the bindings and defaults', () => {
    const cfg = renderBridgeConfig(bridge({ mqtt: { port: 1884 } }), [binding('a', 'sensors'), binding('b', 'cmds', { direction: 'RocketmqToMqtt', defaultQos: 0 })]);
    const parsed = parseConfigText(configText(cfg));
    expect(parsed.bridge.name).toBe('edge.iot');
    expect(parsed.mqtt.port).toBe(1884);
    expect(parsed.rocketmq).toMatchObject({ endpoints: 'proxy:8081', consumerGroup: 'mqbridge_iot_edge' });
    expect(parsed.bindings).toEqual([
      { mqttParentTopic: 'sensors', rocketmqTopic: 'SENSORS', direction: 'Bidirectional', defaultQos: 1 },
      { mqttParentTopic: 'cmds', rocketmqTopic: 'CMDS', direction: 'RocketmqToMqtt', defaultQos: 0 },
    ]);
  });

  test.each([
    ['a binding added', (b: MqttBridge) => renderBridgeConfig(b, [binding('a', 'sensors'), binding('c', 'more')]), false],
    ['the log level', (b: MqttBridge) => renderBridgeConfig({ ...b, spec: { ...b.spec, logLevel: 'debug' } }, [binding('a', 'sensors')]), false],
    ['the payload limit', (b: MqttBridge) => renderBridgeConfig({ ...b, spec: { ...b.spec, mqtt: { maxPayloadBytes: 10 } } }, [binding('a', 'sensors')]), true],
    ['the endpoints', (b: MqttBridge) => renderBridgeConfig({ ...b, spec: { ...b.spec, rocketmq: { endpoints: 'other:8081' } } }, [binding('a', 'sensors')]), true],
  ])('changing %s changes the restart hash: %s', (_name, change, changes) => {
    const base = renderBridgeConfig(bridge(), [binding('a', 'sensors')]);
    expect(restartHash(change(bridge())) !== restartHash(base)).toBe(changes);
  });

  test.each([
    ['team-a', 'x', 'mqbridge_team-a_x'],
    ['team', 'a-x', 'mqbridge_team_a-x'],
  ])('the default consumer group of %s/%s is %s: no two bridges share one', (ns, name, group) => {
    expect(defaultConsumerGroup(ns, name)).toBe(group);
  });

  test('a default consumer group too long for RocketMQ keeps its start and ends in __ and a hash', () => {
    const ns = 'n'.repeat(63);
    const [a, b] = [defaultConsumerGroup(ns, 'b'.repeat(58)), defaultConsumerGroup(ns, `${'b'.repeat(57)}c`)];
    for (const g of [a, b]) expect(g).toMatch(/^mqbridge_n+_b+__[0-9a-f]{16}$/);
    expect(a.length).toBe(127);
    expect(a).not.toBe(b);
    expect(new RegExp('^[%|A-Za-z0-9_-]{1,127}$').test(a)).toBe(true);
  });
});

describe('renderObjects', () => {
  const kinds = (b: MqttBridge) => renderObjects(b, renderBridgeConfig(b, []), { defaultImage: 'img:1' }).map((o) => o.kind);

  test('without autoscaling: ServiceAccount, its config-reader Role and binding, ConfigMap, Deployment, Service, PDB; with it an HPA too', () => {
    expect(kinds(bridge())).toEqual(['ServiceAccount', 'Role', 'RoleBinding', 'ConfigMap', 'Deployment', 'Service', 'PodDisruptionBudget']);
    expect(kinds(bridge({ autoscaling: { maxReplicas: 3 } }))).toContain('HorizontalPodAutoscaler');
  });

  test('the pods may read their own ConfigMap and nothing else, and the config tells them which', () => {
    const b = bridge();
    const config = renderBridgeConfig(b, []);
    const objects = renderObjects(b, config, { defaultImage: 'img:1' }) as unknown as { kind: string; metadata: { name: string }; rules?: unknown; roleRef?: unknown; subjects?: unknown }[];
    const role = objects.find((o) => o.kind === 'Role')!;
    const binding = objects.find((o) => o.kind === 'RoleBinding')!;
    const configMap = objects.find((o) => o.kind === 'ConfigMap')!.metadata.name;
    const account = objects.find((o) => o.kind === 'ServiceAccount')!.metadata.name;
    expect(role.rules).toEqual([{ apiGroups: [''], resources: ['configmaps'], resourceNames: [configMap], verbs: ['get', 'list', 'watch'] }]);
    expect(binding.roleRef).toEqual({ apiGroup: 'rbac.authorization.k8s.io', kind: 'Role', name: role.metadata.name });
    expect(binding.subjects).toEqual([{ kind: 'ServiceAccount', name: account, namespace: b.metadata.namespace }]);
    expect(config.reload.configMap).toEqual({ namespace: b.metadata.namespace, name: configMap, key: 'bridge.yaml' });
  });

  test('the token API gets a ClusterIP Service of its own, never a port on the device-facing Service', () => {
    const b = bridge({ auth: { mode: 'Token', instanceId: 'i', accessKeysSecret: { name: 'keys' } }, service: { type: 'LoadBalancer' } });
    const services = renderObjects(b, renderBridgeConfig(b, []), { defaultImage: 'img:1' }).filter((o) => o.kind === 'Service') as unknown as { metadata: { name: string }; spec: { type: string; ports: { name: string }[] } }[];
    expect(services.map((s) => [s.metadata.name, s.spec.type, s.spec.ports.map((p) => p.name)])).toEqual([
      ['edge-mqtt', 'LoadBalancer', ['mqtt']],
      ['edge-token-api', 'ClusterIP', ['token-api']],
    ]);
  });

  test('the token API speaks HTTPS whenever the bridge has a certificate, unless told otherwise', () => {
    const tokens = { mode: 'Token' as const, instanceId: 'i', accessKeysSecret: { name: 'keys' } };
    expect(renderBridgeConfig(bridge({ auth: tokens }), []).auth.tokenApi.tls).toBe(false);
    expect(renderBridgeConfig(bridge({ auth: tokens, tls: { certificateSecret: { name: 'cert' } } }), []).auth.tokenApi.tls).toBe(true);
    expect(renderBridgeConfig(bridge({ auth: { ...tokens, tokenApi: { tls: false } }, tls: { certificateSecret: { name: 'cert' } } }), []).auth.tokenApi.tls).toBe(false);
  });

  test('every object is owned by the MqttBridge as its controller', () => {
    for (const o of renderObjects(bridge(), renderBridgeConfig(bridge(), []), { defaultImage: 'img:1' })) {
      expect(o.metadata!.ownerReferences).toEqual([{ apiVersion: 'mqbridge.dev/v1alpha1', kind: 'MqttBridge', name: 'edge', uid: 'u-1', controller: true, blockOwnerDeletion: true }]);
      expect(o.metadata!.labels).toMatchObject({ 'mqbridge.dev/bridge': 'edge', 'app.kubernetes.io/managed-by': 'mqbridge-operator' });
    }
  });

  test('the Deployment leaves replicas to the HPA when autoscaling is on', () => {
    const dep = (b: MqttBridge) => renderObjects(b, renderBridgeConfig(b, []), { defaultImage: 'img:1' }).find((o) => o.kind === 'Deployment') as unknown as { spec: Record<string, unknown> };
    expect(dep(bridge({ replicas: 4 })).spec.replicas).toBe(4);
    expect('replicas' in dep(bridge({ replicas: 4, autoscaling: { maxReplicas: 5 } })).spec).toBe(false);
  });

  test('the ConfigMap carries the rendered file', () => {
    const cm = renderObjects(bridge(), renderBridgeConfig(bridge(), [binding('a', 'sensors')]), { defaultImage: 'img:1' }).find((o) => o.kind === 'ConfigMap') as unknown as { data: Record<string, string> };
    expect(parse(cm.data['bridge.yaml']!).bindings).toHaveLength(1);
  });
});

describe('listeners and secrets', () => {
  const secure = bridge({
    auth: { mode: 'Signature', instanceId: 'inst-1', accessKeysSecret: { name: 'device-keys' }, groupAllowList: { AK1: ['GID_a'] } },
    tls: { enabled: true, port: 8883, certificateSecret: { name: 'mqtt-cert' }, clientAuth: 'Require' },
    websocket: { enabled: true, port: 8083, path: '/mqtt', securePort: 8084 },
  });
  const objects = renderObjects(secure, renderBridgeConfig(secure, []), { defaultImage: 'img:1' });
  const find = (kind: string) => objects.find((o) => o.kind === kind) as unknown as { spec: unknown };

  test('the config enables every listener and auth with the mounted files, and is a valid bridge config', () => {
    const parsed = parseConfigText(configText(renderBridgeConfig(secure, [])));
    expect(parsed.tls).toMatchObject({ enabled: true, port: 8883, certFile: '/etc/mqbridge/tls/tls.crt', keyFile: '/etc/mqbridge/tls/tls.key', caFile: '/etc/mqbridge/tls/ca.crt', clientAuth: 'Require' });
    expect(parsed.websocket).toMatchObject({ enabled: true, port: 8083, path: '/mqtt', securePort: 8084 });
    expect(parsed.auth).toMatchObject({ mode: 'Signature', instanceId: 'inst-1', accessKeysDir: '/etc/mqbridge/access-keys', groupAllowList: { AK1: ['GID_a'] } });
  });

  test('every listener is a named port of the pod and of the Service', () => {
    const names = ['mqtt', 'mqtts', 'mqtt-ws', 'mqtt-wss'];
    const pod = (find('Deployment').spec as { template: { spec: { containers: { ports: { name: string }[] }[]; volumes: unknown[] } } }).template.spec;
    expect(pod.containers[0]!.ports.map((p) => p.name)).toEqual([...names, 'http']);
    expect((find('Service').spec as { ports: { name: string; port: number }[] }).ports.map((p) => [p.name, p.port])).toEqual([
      ['mqtt', 1883], ['mqtts', 8883], ['mqtt-ws', 8083], ['mqtt-wss', 8084],
    ]);
    expect(pod.volumes).toEqual([
      { name: 'config', configMap: { name: 'edge-bridge-config' } },
      { name: 'access-keys', secret: { secretName: 'device-keys' } },
      { name: 'tls', secret: { secretName: 'mqtt-cert' } },
    ]);
  });

  test.each([
    ['Token', {}, [['token-api', 8090]], true],
    ['SignatureOrToken', { port: 9443, tls: true }, [['token-api', 9443]], true],
    ['Token', { tls: false }, [['token-api', 8090]], false],
    ['Token', { enabled: false }, [], true],
    ['Signature', {}, [], true],
  ] as const)('auth.mode %s with tokenApi %j: token API Service ports %j', (mode, tokenApi, ports, tls) => {
    const b = bridge({
      auth: { mode, instanceId: 'inst-1', accessKeysSecret: { name: 'device-keys' }, tokenApi },
      tls: { enabled: true, port: 8883, certificateSecret: { name: 'mqtt-cert' } },
    });
    const config = renderBridgeConfig(b, []);
    const services = renderObjects(b, config, { defaultImage: 'img:1' }).filter((o) => o.kind === 'Service') as unknown as { metadata: { name: string }; spec: { ports: { name: string; port: number }[] } }[];
    const tokenService = services.find((svc) => svc.metadata.name === 'edge-token-api');
    expect(tokenService?.spec.ports.map((p) => [p.name, p.port]) ?? []).toEqual(ports);
    expect(services.find((svc) => svc.metadata.name === 'edge-mqtt')!.spec.ports.map((p) => p.name)).not.toContain('token-api');
    expect(parseConfigText(configText(config)).auth.tokenApi).toMatchObject({ tls, port: ports[0]?.[1] ?? 8090 });
  });

  test('secrets never land in the ConfigMap', () => {
    const cm = JSON.stringify(objects.find((o) => o.kind === 'ConfigMap'));
    expect(cm).not.toMatch(/device-keys|mqtt-cert/);
  });

  test('turning a listener on is a restart-requiring change', () => {
    expect(restartHash(renderBridgeConfig(secure, []))).not.toBe(restartHash(renderBridgeConfig(bridge(), [])));
  });
});

describe('session store', () => {
  const envOf = (b: MqttBridge) => {
    const dep = renderObjects(b, renderBridgeConfig(b, []), { defaultImage: 'img:1' }).find((o) => o.kind === 'Deployment') as unknown as {
      spec: { template: { spec: { containers: { env?: unknown[] }[] } } };
    };
    return dep.spec.template.spec.containers[0]!.env;
  };
  const storeOf = (b: MqttBridge) => parseConfigText(configText(renderBridgeConfig(b, []))).sessionStore;
  const secretEnv = (name: string, key: string) => ({ name: 'MQBRIDGE_REDIS_URL', valueFrom: { secretKeyRef: { name, key } } });

  test.each([
    ['none', undefined, { sessionExpirySeconds: 259200 }, undefined],
    ['a URL', { redis: { url: 'redis://r:6379' } }, { redis: { url: 'redis://r:6379', cluster: false }, sessionExpirySeconds: 259200 }, undefined],
    ['a Cluster, 1 day', { redis: { url: 'redis://a:7000,b:7001', cluster: true }, sessionExpirySeconds: 86400 }, { redis: { url: 'redis://a:7000,b:7001', cluster: true }, sessionExpirySeconds: 86400 }, undefined],
    ['a Secret', { redis: { urlSecret: { name: 'redis' } } }, { redis: { cluster: false }, sessionExpirySeconds: 259200 }, [secretEnv('redis', 'url')]],
    ['a Secret key', { redis: { urlSecret: { name: 'redis', key: 'uri' } } }, { redis: { cluster: false }, sessionExpirySeconds: 259200 }, [secretEnv('redis', 'uri')]],
  ] as const)('%s: config and environment', (_name, sessionStore, config, env) => {
    const b = bridge(sessionStore ? { sessionStore: structuredClone(sessionStore) as MqttBridge['spec']['sessionStore'] } : {});
    expect(storeOf(b)).toMatchObject(config);
    expect(envOf(b)).toEqual(env);
  });

  test('the URL Secret comes after the RocketMQ credentials; the ConfigMap never names it', () => {
    const b = bridge({ rocketmq: { endpoints: 'proxy:8081', credentialsSecret: { name: 'rmq' } }, sessionStore: { redis: { urlSecret: { name: 'redis-url' } } } });
    expect((envOf(b) as { name: string }[]).map((e) => e.name)).toEqual(['ROCKETMQ_ACCESS_KEY', 'ROCKETMQ_SECRET_KEY', 'MQBRIDGE_REDIS_URL']);
    expect(configText(renderBridgeConfig(b, []))).not.toContain('redis-url');
  });

  test('turning the session store on is a restart-requiring change', () => {
    const b = bridge({ sessionStore: { redis: { url: 'redis://r:6379' } } });
    expect(restartHash(renderBridgeConfig(b, []))).not.toBe(restartHash(renderBridgeConfig(bridge(), [])));
  });
});

describe('bridge limits and identity settings from the MqttBridge', () => {
  test('set ones reach the bridge config; unset ones leave the bridge defaults', () => {
    const b = bridge({
      mqtt: { maxConnections: 30000, maxFiltersPerSubscribe: 64, maxQos2InFlight: 100, connectsPerSecond: 500 },
      auth: { mode: 'Token', instanceId: 'i', accessKeysSecret: { name: 'k' }, requireBoundTokens: true, sessionTakeover: 'Any' },
      tls: { certificateSecret: { name: 'c' }, clientAuth: 'Require', clientIdFromCertificate: true },
    });
    const parsed = parseConfigText(configText(renderBridgeConfig(b, [])));
    expect(parsed.mqtt).toMatchObject({ maxConnections: 30000, maxFiltersPerSubscribe: 64, maxQos2InFlight: 100, connectsPerSecond: 500, maxSubscriptionsPerClient: 128, connectTimeoutMs: 10000 });
    expect(parsed.auth).toMatchObject({ requireBoundTokens: true, sessionTakeover: 'Any' });
    expect(parsed.tls.clientIdFromCertificate).toBe(true);
    expect(parseConfigText(configText(renderBridgeConfig(bridge(), []))).auth).toMatchObject({ requireBoundTokens: false, sessionTakeover: 'SameCredential' });
  });
});
