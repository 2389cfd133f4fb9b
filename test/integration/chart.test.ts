// The Helm chart charts/mqbridge: lint, what `helm template` renders (least-privilege RBAC,
// security context, CRDs identical to crds/), then install, upgrade and uninstall on the real
// kube-apiserver test/run.sh starts, and the operator itself running with the chart's
// ServiceAccount token to prove the RBAC is enough for what it does.
//
// Needs KUBECONFIG (the test API server's admin kubeconfig) and MQBRIDGE_HELM (the Helm binary,
// `bash test/env/helm.sh path`); it fails, never skips, without them.
import { execFile, spawn, type ChildProcess } from 'node:child_process';
import { cpSync, mkdtempSync, readdirSync, readFileSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { fileURLToPath } from 'node:url';
import { KubeConfig } from '@kubernetes/client-node';
import { parse, parseAllDocuments, stringify } from 'yaml';
import { KubeRest, isNotFound } from '../../operator/k8s/rest.js';

// Compiled to dist/test/integration/: the repository root is three levels up.
const ROOT = new URL('../../../', import.meta.url);
const CHART = fileURLToPath(new URL('charts/mqbridge', ROOT));
const CRD_DIR = new URL('crds/', ROOT);
const OPERATOR_MAIN = fileURLToPath(new URL('dist/operator/main.js', ROOT));

// ------------------------------------------------------------------------------ types

interface Meta {
  name: string;
  namespace?: string;
  labels?: Record<string, string>;
  annotations?: Record<string, string>;
  generation?: number;
  deletionTimestamp?: string;
}
interface Obj {
  apiVersion: string;
  kind: string;
  metadata: Meta;
  [field: string]: unknown;
}
interface PolicyRule {
  apiGroups?: string[];
  resources?: string[];
  verbs: string[];
  resourceNames?: string[];
  nonResourceURLs?: string[];
}
interface Role extends Obj {
  rules: PolicyRule[];
}
interface Binding extends Obj {
  roleRef: { kind: string; name: string };
  subjects: { kind: string; name: string; namespace?: string }[];
}
interface Container {
  name: string;
  image: string;
  command?: string[];
  args: string[];
  env: { name: string; value?: string; valueFrom?: { fieldRef?: { fieldPath: string } } }[];
  ports: { name: string; containerPort: number }[];
  livenessProbe?: { httpGet?: { path: string; port: string | number } };
  readinessProbe?: { httpGet?: { path: string; port: string | number } };
  resources?: { requests?: Record<string, string>; limits?: Record<string, string> };
  securityContext: Record<string, unknown>;
}
interface PodSpec {
  serviceAccountName: string;
  securityContext: Record<string, unknown>;
  containers: Container[];
  [field: string]: unknown;
}
interface Deployment extends Obj {
  spec: { replicas: number; template: { metadata: Meta; spec: PodSpec } };
}
interface Crd extends Obj {
  spec: { versions: { schema: { openAPIV3Schema: { description?: string } } }[] } & Record<string, unknown>;
  status?: { conditions?: { type: string; status: string }[] };
}

// ------------------------------------------------------------------------------ helpers

function requiredEnv(name: string, hint: string): string {
  const value = process.env[name];
  if (!value) throw new Error(`${name} is not set: ${hint}`);
  return value;
}

const env = {
  get kubeconfig() {
    return requiredEnv('KUBECONFIG', 'the admin kubeconfig of the test API server (bash test/env/kube.sh start prints it)');
  },
  get helm() {
    return requiredEnv('MQBRIDGE_HELM', 'the Helm binary (bash test/env/helm.sh build && bash test/env/helm.sh path)');
  },
  /** Fails (never skips) every test of a block when either is missing. */
  check() {
    return { kubeconfig: this.kubeconfig, helm: this.helm };
  },
};

/** Helm keeps its config, cache and repository data here, not in the user's home. */
let helmHome: string;

interface RunResult {
  code: number;
  stdout: string;
  stderr: string;
}

function runHelm(args: string[], timeout = 60_000): Promise<RunResult> {
  return new Promise((resolve) => {
    execFile(
      env.helm,
      [...args, '--kubeconfig', env.kubeconfig],
      {
        timeout,
        maxBuffer: 32 * 1024 * 1024,
        env: {
          PATH: process.env.PATH ?? '/usr/bin:/bin',
          HOME: helmHome,
          HELM_CONFIG_HOME: join(helmHome, 'config'),
          HELM_CACHE_HOME: join(helmHome, 'cache'),
          HELM_DATA_HOME: join(helmHome, 'data'),
        },
      },
      (err, stdout, stderr) => resolve({ code: err ? (typeof err.code === 'number' ? err.code : -1) : 0, stdout, stderr: `${stderr}${err && !stderr ? err.message : ''}` }),
    );
  });
}

async function helm(...args: string[]): Promise<string> {
  const r = await runHelm(args);
  if (r.code !== 0) throw new Error(`helm ${args.join(' ')} failed (${r.code}):\n${r.stderr}${r.stdout}`);
  return r.stdout;
}

/** `helm template` of the chart, every document parsed. */
async function template(...sets: string[]): Promise<Obj[]> {
  const out = await helm('template', 'mq', CHART, '--namespace', 'mq-system', ...sets.flatMap((s) => ['--set', s]));
  const docs = parseAllDocuments(out);
  for (const d of docs) if (d.errors.length) throw new Error(`helm template output does not parse: ${d.errors[0]!.message}`);
  return docs.map((d) => d.toJS() as Obj | null).filter((o): o is Obj => o !== null);
}

const ofKind = <T extends Obj>(objs: Obj[], kind: string) => objs.filter((o) => o.kind === kind) as T[];
const one = <T extends Obj>(objs: Obj[], kind: string, name?: string): T => {
  const found = ofKind<T>(objs, kind).filter((o) => name === undefined || o.metadata.name === name);
  if (found.length !== 1) throw new Error(`expected one ${kind}${name ? ` ${name}` : ''}, found ${found.length}`);
  return found[0]!;
};

/** Rules flattened to `group/resource[:name] verb` lines, to compare sets. */
function grants(rules: PolicyRule[]): string[] {
  const out: string[] = [];
  for (const r of rules) {
    for (const g of r.apiGroups ?? []) {
      for (const res of r.resources ?? []) {
        for (const verb of r.verbs) {
          for (const name of r.resourceNames?.length ? r.resourceNames : ['']) out.push(`${g || 'core'}/${res}${name ? `:${name}` : ''} ${verb}`);
        }
      }
    }
  }
  return out.sort();
}

const expand = (group: string, resources: string[], verbs: string[]) => resources.flatMap((r) => verbs.map((v) => `${group}/${r} ${v}`));
const READ = ['get', 'list', 'watch'];
const OWN = ['get', 'list', 'watch', 'create', 'update', 'patch', 'delete'];

/** Exactly what the operator does (operator/k8s/paths.ts and its callers). */
const OPERATOR_GRANTS = [
  ...expand('mqbridge.dev', ['mqttbridges', 'topicbindings'], READ),
  ...expand('mqbridge.dev', ['mqttbridges/status', 'topicbindings/status'], ['get', 'patch', 'update']),
  // blockOwnerDeletion in owner references needs this where OwnerReferencesPermissionEnforcement is on.
  ...expand('mqbridge.dev', ['mqttbridges/finalizers'], ['update']),
  ...expand('core', ['configmaps', 'services', 'serviceaccounts'], OWN),
  ...expand('apps', ['deployments'], OWN),
  ...expand('policy', ['poddisruptionbudgets'], OWN),
  ...expand('autoscaling', ['horizontalpodautoscalers'], OWN),
  // Each bridge's config-reader Role and its binding.
  ...expand('rbac.authorization.k8s.io', ['roles', 'rolebindings'], OWN),
  ...expand('events.k8s.io', ['events'], ['create', 'patch']),
  // Ready bridge pods and their addresses, to read what config each runs.
  ...expand('discovery.k8s.io', ['endpointslices'], READ),
  // To see which Secrets carry the opt-in label (metadata requests; RBAC cannot say so).
  ...expand('core', ['secrets'], ['list', 'watch']),
].sort();

const LEADER_GRANTS = ['coordination.k8s.io/leases create', 'coordination.k8s.io/leases:mqbridge-operator get', 'coordination.k8s.io/leases:mqbridge-operator update'].sort();

function expectNoWildcardsOrSecrets(rules: PolicyRule[]) {
  for (const r of rules) {
    expect(r.verbs).not.toContain('*');
    expect(r.resources ?? []).not.toContain('*');
    expect(r.apiGroups ?? []).not.toContain('*');
    expect(r.nonResourceURLs ?? []).toEqual([]);
    for (const res of r.resources ?? []) expect(['pods', 'pods/exec', 'pods/log']).not.toContain(res);
    // Secrets: listed and watched (for their labels), never fetched or written one by one.
    if ((r.resources ?? []).includes('secrets')) expect(r.verbs.sort()).toEqual(['list', 'watch']);
  }
}

const crdFiles = () => readdirSync(CRD_DIR).filter((f) => f.endsWith('.yaml')).sort();
const sourceCrds = () => crdFiles().map((f) => parse(readFileSync(new URL(f, CRD_DIR), 'utf8')) as Crd);

function kubeRestFor(kubeconfig: string): KubeRest {
  const kc = new KubeConfig();
  kc.loadFromFile(kubeconfig);
  return new KubeRest(kc);
}

const sleep = (ms: number) => new Promise((r) => setTimeout(r, ms));

async function waitFor<T>(what: string, probe: () => Promise<T | undefined>, timeoutMs = 30_000, everyMs = 200): Promise<T> {
  const deadline = Date.now() + timeoutMs;
  let last: unknown;
  for (;;) {
    try {
      const v = await probe();
      if (v !== undefined) return v;
    } catch (err) {
      last = err;
    }
    if (Date.now() > deadline) throw new Error(`timed out after ${timeoutMs} ms waiting for ${what}${last ? ` (last error: ${(last as Error).message})` : ''}`);
    await sleep(everyMs);
  }
}

// ------------------------------------------------------------------------------ rendering

describe('helm lint and helm template', () => {
  beforeAll(() => {
    env.check();
    helmHome = mkdtempSync(join(tmpdir(), 'mqbridge-helm-'));
  });

  test('helm lint --strict passes with the default values, with watchNamespaces and cluster-wide', async () => {
    const a = await helm('lint', '--strict', CHART);
    expect(a).toMatch(/1 chart\(s\) linted, 0 chart\(s\) failed/);
    const b = await helm('lint', '--strict', CHART, '--set', 'watchNamespaces={a,b}');
    expect(b).toMatch(/0 chart\(s\) failed/);
    const c = await helm('lint', '--strict', CHART, '--set', 'clusterWide=true');
    expect(c).toMatch(/0 chart\(s\) failed/);
  });

  test('default values: the release namespace only, through a Role with exactly the operator grants; nothing cluster-wide', async () => {
    const objs = await template();
    expect(ofKind(objs, 'ClusterRole')).toEqual([]);
    expect(ofKind(objs, 'ClusterRoleBinding')).toEqual([]);
    const roles = ofKind<Role>(objs, 'Role');
    const operatorRole = roles.find((r) => r.metadata.name === 'mq-mqbridge')!;
    expect(operatorRole.metadata.namespace).toBe('mq-system');
    expect(grants(operatorRole.rules)).toEqual(OPERATOR_GRANTS);
    expectNoWildcardsOrSecrets(operatorRole.rules);
    const args = one<Deployment>(objs, 'Deployment').spec.template.spec.containers[0]!.args;
    expect(args).toContain('--watch-namespaces=mq-system');
    expect(args).toContain('--policy-file=/etc/mqbridge-operator/policy.yaml');
  });

  test('the policy values become the operator\'s policy file, and a change rolls the operator', async () => {
    const objs = await template('policy.allowedImages={registry.example.com/iot/*}', 'policy.tenancy.restrictUnlisted=true');
    const cm = one<Obj & { data: Record<string, string> }>(objs, 'ConfigMap', 'mq-mqbridge-policy');
    expect(parse(cm.data['policy.yaml']!)).toMatchObject({ allowedImages: ['registry.example.com/iot/*'], tenancy: { restrictUnlisted: true } });
    const checksum = (o: Obj[]) => one<Deployment>(o, 'Deployment').spec.template.metadata.annotations?.['mqbridge.dev/policy-checksum'];
    expect(checksum(objs)).not.toBe(checksum(await template()));
  });

  test('clusterWide=true: all namespaces through a ClusterRole with exactly the operator grants', async () => {
    const objs = await template('clusterWide=true');
    expect(objs.map((o) => o.kind).sort()).toEqual(
      ['ClusterRole', 'ClusterRoleBinding', 'ConfigMap', 'CustomResourceDefinition', 'CustomResourceDefinition', 'Deployment', 'PodDisruptionBudget', 'Role', 'RoleBinding', 'Service', 'ServiceAccount'].sort(),
    );
    const sa = one(objs, 'ServiceAccount');
    const cr = one<Role>(objs, 'ClusterRole');
    expect(grants(cr.rules)).toEqual(OPERATOR_GRANTS);
    expectNoWildcardsOrSecrets(cr.rules);
    const crb = one<Binding>(objs, 'ClusterRoleBinding');
    expect(crb.roleRef).toMatchObject({ kind: 'ClusterRole', name: cr.metadata.name });
    expect(crb.subjects).toEqual([{ kind: 'ServiceAccount', name: sa.metadata.name, namespace: 'mq-system' }]);

    // The only namespaced Role: the Lease, in the release namespace.
    const leader = one<Role>(objs, 'Role');
    expect(leader.metadata.namespace).toBe('mq-system');
    expect(grants(leader.rules)).toEqual(LEADER_GRANTS);
    const rb = one<Binding>(objs, 'RoleBinding');
    expect(rb.metadata.namespace).toBe('mq-system');
    expect(rb.roleRef).toMatchObject({ kind: 'Role', name: leader.metadata.name });
    expect(rb.subjects).toEqual([{ kind: 'ServiceAccount', name: sa.metadata.name, namespace: 'mq-system' }]);

    const args = one<Deployment>(objs, 'Deployment').spec.template.spec.containers[0]!.args;
    expect(args.some((a) => a.startsWith('--watch-namespaces'))).toBe(false);
  });

  test('watchNamespaces=[a,b]: a Role and RoleBinding in each, no cluster-wide grants', async () => {
    const objs = await template('watchNamespaces={a,b}');
    expect(ofKind(objs, 'ClusterRole')).toEqual([]);
    expect(ofKind(objs, 'ClusterRoleBinding')).toEqual([]);
    const sa = one(objs, 'ServiceAccount');
    const roles = ofKind<Role>(objs, 'Role');
    const bindings = ofKind<Binding>(objs, 'RoleBinding');
    expect(roles.map((r) => r.metadata.namespace).sort()).toEqual(['a', 'b', 'mq-system']);
    expect(bindings.map((r) => r.metadata.namespace).sort()).toEqual(['a', 'b', 'mq-system']);
    for (const ns of ['a', 'b']) {
      const role = roles.find((r) => r.metadata.namespace === ns)!;
      expect(grants(role.rules)).toEqual(OPERATOR_GRANTS);
      expectNoWildcardsOrSecrets(role.rules);
      const rb = bindings.find((b) => b.metadata.namespace === ns)!;
      expect(rb.roleRef).toMatchObject({ kind: 'Role', name: role.metadata.name });
      expect(rb.subjects).toEqual([{ kind: 'ServiceAccount', name: sa.metadata.name, namespace: 'mq-system' }]);
    }
    expect(grants(roles.find((r) => r.metadata.namespace === 'mq-system')!.rules)).toEqual(LEADER_GRANTS);
    const args = one<Deployment>(objs, 'Deployment').spec.template.spec.containers[0]!.args;
    expect(args).toContain('--watch-namespaces=a,b');
  });

  test('the operator Deployment: entrypoint, flags, identity, probes, resources, hardened security context', async () => {
    const objs = await template();
    const dep = one<Deployment>(objs, 'Deployment');
    expect(dep.spec.replicas).toBe(2);
    const pod = dep.spec.template.spec;
    expect(pod.serviceAccountName).toBe(one(objs, 'ServiceAccount').metadata.name);
    expect(pod.securityContext).toMatchObject({ runAsNonRoot: true, runAsUser: 10001, seccompProfile: { type: 'RuntimeDefault' } });
    expect(pod.containers).toHaveLength(1);
    const c = pod.containers[0]!;
    expect(c.command).toBeUndefined(); // the image's ENTRYPOINT: node dist/operator/main.js
    expect(c.image).toBe('ghcr.io/mqbridge/operator:0.1.0');
    expect(c.args).toEqual(
      expect.arrayContaining(['--http-port=8080', '--log-level=info', '--leader-elect', '--leader-election-namespace=mq-system', '--bridge-image=ghcr.io/mqbridge/bridge:0.1.0']),
    );
    const fieldRef = (name: string) => c.env.find((e) => e.name === name)?.valueFrom?.fieldRef?.fieldPath;
    expect(fieldRef('POD_NAME')).toBe('metadata.name');
    expect(fieldRef('POD_NAMESPACE')).toBe('metadata.namespace');
    expect(c.env.find((e) => e.name === 'NODE_OPTIONS')?.value).toBe('--max-old-space-size=128');
    expect(c.ports).toEqual([expect.objectContaining({ name: 'http', containerPort: 8080 })]);
    expect(c.livenessProbe?.httpGet).toEqual({ path: '/healthz', port: 'http' });
    expect(c.readinessProbe?.httpGet).toEqual({ path: '/readyz', port: 'http' });
    expect(c.resources?.requests).toEqual(expect.objectContaining({ cpu: expect.any(String), memory: expect.any(String) }));
    expect(c.resources?.limits).toEqual(expect.objectContaining({ memory: expect.any(String) }));
    expect(c.securityContext).toMatchObject({
      runAsNonRoot: true,
      runAsUser: 10001,
      readOnlyRootFilesystem: true,
      allowPrivilegeEscalation: false,
      capabilities: { drop: ['ALL'] },
      seccompProfile: { type: 'RuntimeDefault' },
    });
    expect(c.securityContext.privileged).toBeUndefined();

    const pdb = one<Obj & { spec: { maxUnavailable: number; selector: { matchLabels: Record<string, string> } } }>(objs, 'PodDisruptionBudget');
    expect(pdb.spec.maxUnavailable).toBe(1);
    expect(pdb.spec.selector.matchLabels).toEqual(dep.spec.template.metadata.labels);
    const svc = one<Obj & { spec: { ports: { port: number; targetPort: string }[] } }>(objs, 'Service');
    expect(svc.spec.ports).toEqual([expect.objectContaining({ port: 8080, targetPort: 'http' })]);
  });

  test('one replica: no PodDisruptionBudget; without leader election no Lease grants and no --leader-elect', async () => {
    const objs = await template('replicaCount=1', 'leaderElection.enabled=false', 'clusterWide=true');
    expect(ofKind(objs, 'PodDisruptionBudget')).toEqual([]);
    expect(ofKind(objs, 'Role')).toEqual([]);
    expect(ofKind(objs, 'RoleBinding')).toEqual([]);
    expect(one<Deployment>(objs, 'Deployment').spec.template.spec.containers[0]!.args.some((a) => a.startsWith('--leader-elect'))).toBe(false);
  });

  test('refused values: several replicas without leader election, unknown keys, bad namespace names', async () => {
    const ha = await runHelm(['template', 'mq', CHART, '--set', 'replicaCount=2', '--set', 'leaderElection.enabled=false']);
    expect(ha.code).not.toBe(0);
    expect(ha.stderr).toMatch(/needs leaderElection.enabled=true/);
    const typo = await runHelm(['template', 'mq', CHART, '--set', 'replicas=3']);
    expect(typo.code).not.toBe(0);
    expect(typo.stderr).toMatch(/additional properties 'replicas' not allowed/);
    const ns = await runHelm(['template', 'mq', CHART, '--set', 'watchNamespaces={Not_A_Namespace}']);
    expect(ns.code).not.toBe(0);
    expect(ns.stderr).toMatch(/watchNamespaces/);
  });

  test('CRDs: rendered from the chart, identical to crds/, annotated helm.sh/resource-policy: keep', async () => {
    const objs = await template();
    const rendered = ofKind<Crd>(objs, 'CustomResourceDefinition');
    const sources = sourceCrds();
    expect(rendered.map((c) => c.metadata.name).sort()).toEqual(sources.map((c) => c.metadata.name).sort());
    for (const src of sources) {
      const crd = rendered.find((c) => c.metadata.name === src.metadata.name)!;
      expect(crd.spec).toEqual(src.spec);
      expect(crd.apiVersion).toBe(src.apiVersion);
      expect(crd.metadata.labels).toEqual(expect.objectContaining(src.metadata.labels ?? {}));
      expect(crd.metadata.annotations?.['helm.sh/resource-policy']).toBe('keep');
    }
    const notKept = ofKind<Crd>(await template('crds.keep=false'), 'CustomResourceDefinition');
    expect(notKept).toHaveLength(sources.length);
    for (const c of notKept) expect(c.metadata.annotations?.['helm.sh/resource-policy']).toBeUndefined();
    expect(ofKind(await template('crds.install=false'), 'CustomResourceDefinition')).toEqual([]);
  });
});

// ------------------------------------------------------------------------------ a real API server

interface SarAttrs {
  verb: string;
  group?: string;
  resource: string;
  subresource?: string;
  name?: string;
  namespace?: string;
}

describe('install, upgrade and uninstall on a real API server', () => {
  let rest: KubeRest;
  const suffix = `${Date.now().toString(36)}${Math.random().toString(36).slice(2, 6)}`;
  const ns = `chart-${suffix}`; // release "mq" (all namespaces)
  const ns2 = `chart-${suffix}-r2`; // release "mq2" (watches nsA and nsB)
  const nsA = `chart-${suffix}-a`;
  const nsB = `chart-${suffix}-b`;
  const releases: [string, string][] = [];
  const forget = (release: string) => {
    const i = releases.findIndex(([r]) => r === release);
    if (i >= 0) releases.splice(i, 1);
  };
  let crdsExisted = false;
  let operator: ChildProcess | undefined;
  let scratch: string;

  const sa = (release: string, namespace: string) => `system:serviceaccount:${namespace}:${release}-mqbridge`;

  async function can(user: string, a: SarAttrs): Promise<boolean> {
    const namespace = user.split(':')[2]!;
    const review = await rest.create<{ status: { allowed: boolean } }>(
      '/apis/authorization.k8s.io/v1/subjectaccessreviews',
      {
        apiVersion: 'authorization.k8s.io/v1',
        kind: 'SubjectAccessReview',
        spec: { user, groups: ['system:serviceaccounts', `system:serviceaccounts:${namespace}`, 'system:authenticated'], resourceAttributes: { group: '', ...a } },
      },
      'chart-test',
    );
    return review.status.allowed;
  }

  /** Each [attrs] answered as expected; reports every mismatch at once. */
  async function expectAccess(user: string, cases: [SarAttrs, boolean][]) {
    const wrong: string[] = [];
    for (const [a, expected] of cases) {
      if ((await can(user, a)) !== expected) wrong.push(`${expected ? 'denied' : 'allowed'}: ${a.verb} ${a.group ? `${a.group}/` : ''}${a.resource}${a.subresource ? `/${a.subresource}` : ''}${a.name ? ` ${a.name}` : ''} in ${a.namespace ?? '(cluster)'}`);
    }
    expect(wrong).toEqual([]);
  }

  /** What the operator needs in a namespace it watches (its caches and writes). */
  const operatorNeeds = (namespace: string | undefined): SarAttrs[] => [
    ...['mqttbridges', 'topicbindings'].flatMap((resource) => READ.map((verb) => ({ verb, group: 'mqbridge.dev', resource, namespace }))),
    ...['mqttbridges', 'topicbindings'].flatMap((resource) => ['get', 'patch', 'update'].map((verb) => ({ verb, group: 'mqbridge.dev', resource, subresource: 'status', namespace }))),
    { verb: 'update', group: 'mqbridge.dev', resource: 'mqttbridges', subresource: 'finalizers', namespace },
    ...(
      [
        ['', 'configmaps'],
        ['', 'services'],
        ['', 'serviceaccounts'],
        ['apps', 'deployments'],
        ['policy', 'poddisruptionbudgets'],
        ['autoscaling', 'horizontalpodautoscalers'],
        ['rbac.authorization.k8s.io', 'roles'],
        ['rbac.authorization.k8s.io', 'rolebindings'],
      ] as const
    ).flatMap(([group, resource]) => OWN.map((verb) => ({ verb, group, resource, namespace }))),
    ...READ.map((verb) => ({ verb, group: 'discovery.k8s.io', resource: 'endpointslices', namespace })),
    { verb: 'create', group: 'events.k8s.io', resource: 'events', namespace },
    { verb: 'patch', group: 'events.k8s.io', resource: 'events', namespace },
    { verb: 'list', resource: 'secrets', namespace },
    { verb: 'watch', resource: 'secrets', namespace },
  ];

  /** What it must never be able to do there. */
  const forbidden = (namespace: string | undefined): SarAttrs[] => [
    // Secrets are listed and watched (for their labels), never fetched one by one or written.
    ...['get', 'create', 'update', 'patch', 'delete'].map((verb) => ({ verb, resource: 'secrets', namespace })),
    ...READ.map((verb) => ({ verb, resource: 'pods', namespace })),
    { verb: 'create', resource: 'pods', namespace },
    { verb: 'create', resource: 'pods', subresource: 'exec', namespace },
    ...['create', 'update', 'patch', 'delete'].map((verb) => ({ verb, group: 'mqbridge.dev', resource: 'mqttbridges', namespace })),
    { verb: 'delete', group: 'mqbridge.dev', resource: 'topicbindings', namespace },
    { verb: 'create', resource: 'events', namespace }, // core events: it records events.k8s.io ones
    { verb: 'update', group: 'apps', resource: 'deployments', subresource: 'scale', namespace },
    // It creates Roles and RoleBindings for its bridges, but may grant only what it holds.
    { verb: 'bind', group: 'rbac.authorization.k8s.io', resource: 'roles', namespace },
    { verb: 'escalate', group: 'rbac.authorization.k8s.io', resource: 'roles', namespace },
    { verb: 'bind', group: 'rbac.authorization.k8s.io', resource: 'clusterroles', namespace },
    { verb: 'escalate', group: 'rbac.authorization.k8s.io', resource: 'clusterroles', namespace },
    { verb: 'create', group: 'rbac.authorization.k8s.io', resource: 'clusterrolebindings' },
  ];

  const crdNames = () => sourceCrds().map((c) => c.metadata.name);

  async function tryGet<T>(path: string): Promise<T | undefined> {
    try {
      return await rest.get<T>(path);
    } catch (err) {
      if (isNotFound(err)) return undefined;
      throw err;
    }
  }
  const crdPath = (name: string) => `/apis/apiextensions.k8s.io/v1/customresourcedefinitions/${name}`;

  async function createNamespace(name: string, labels: Record<string, string> = {}) {
    await rest.create('/api/v1/namespaces', { apiVersion: 'v1', kind: 'Namespace', metadata: { name, labels } }, 'chart-test');
  }

  async function install(release: string, namespace: string, ...sets: string[]) {
    const out = await helm('install', release, CHART, '--namespace', namespace, '--wait=false', '--timeout', '60s', ...(crdsExisted ? ['--take-ownership'] : []), ...sets.flatMap((s) => ['--set', s]));
    releases.push([release, namespace]);
    return out;
  }

  beforeAll(async () => {
    const { kubeconfig } = env.check();
    helmHome ??= mkdtempSync(join(tmpdir(), 'mqbridge-helm-'));
    scratch = mkdtempSync(join(tmpdir(), 'mqbridge-chart-'));
    rest = kubeRestFor(kubeconfig);
    // Other tests may have applied crds/ with kubectl already: then Helm has to take them over.
    crdsExisted = (await Promise.all(crdNames().map((n) => tryGet(crdPath(n))))).some(Boolean);
    // The release namespace enforces the "restricted" Pod Security Standard.
    await createNamespace(ns, { 'pod-security.kubernetes.io/enforce': 'restricted' });
    for (const n of [ns2, nsA, nsB]) await createNamespace(n);
  }, 60_000);

  afterAll(async () => {
    if (operator && operator.exitCode === null) operator.kill('SIGKILL');
    for (const [release, namespace] of releases.reverse()) await runHelm(['uninstall', release, '--namespace', namespace, '--wait=false']);
    if (rest) {
      // The custom resources first (other tests' operators might see them otherwise), then the
      // namespaces (they stay Terminating without a namespace controller; nothing else runs there).
      for (const [plural, n] of [['topicbindings', nsA], ['mqttbridges', nsA]] as const) {
        const list = await rest.list<Obj>(`/apis/mqbridge.dev/v1alpha1/namespaces/${n}/${plural}`).catch(() => ({ items: [] as Obj[] }));
        for (const o of list.items) await rest.delete(`/apis/mqbridge.dev/v1alpha1/namespaces/${n}/${plural}/${o.metadata.name}`).catch(() => undefined);
      }
      for (const n of [ns, ns2, nsA, nsB]) await rest.delete(`/api/v1/namespaces/${n}`).catch(() => undefined);
      if (!crdsExisted) {
        for (const name of crdNames()) await rest.delete(crdPath(name)).catch(() => undefined);
        await waitFor('CRDs deleted', async () => ((await Promise.all(crdNames().map((n) => tryGet(crdPath(n))))).some(Boolean) ? undefined : true), 30_000).catch(() => undefined);
      }
    }
    if (scratch) rmSync(scratch, { recursive: true, force: true });
    if (helmHome) rmSync(helmHome, { recursive: true, force: true });
  }, 120_000);

  test('helm install (all namespaces) creates the operator objects and Established CRDs that Helm keeps', async () => {
    const out = await install('mq', ns, 'clusterWide=true');
    expect(out).toMatch(/STATUS: deployed/);
    expect(out).toMatch(/kind: MqttBridge/); // NOTES.txt
    for (const path of [
      `/api/v1/namespaces/${ns}/serviceaccounts/mq-mqbridge`,
      `/apis/apps/v1/namespaces/${ns}/deployments/mq-mqbridge`,
      `/api/v1/namespaces/${ns}/services/mq-mqbridge-metrics`,
      `/api/v1/namespaces/${ns}/configmaps/mq-mqbridge-policy`,
      `/apis/policy/v1/namespaces/${ns}/poddisruptionbudgets/mq-mqbridge`,
      `/apis/rbac.authorization.k8s.io/v1/namespaces/${ns}/roles/mq-mqbridge-leader-election`,
      `/apis/rbac.authorization.k8s.io/v1/namespaces/${ns}/rolebindings/mq-mqbridge-leader-election`,
      '/apis/rbac.authorization.k8s.io/v1/clusterroles/mq-mqbridge',
      '/apis/rbac.authorization.k8s.io/v1/clusterrolebindings/mq-mqbridge',
    ]) {
      expect(await tryGet(path).then((o) => (o ? path : `missing: ${path}`))).toBe(path);
    }
    for (const name of crdNames()) {
      const crd = await waitFor(`CRD ${name} Established`, async () => {
        const c = await rest.get<Crd>(crdPath(name));
        return c.status?.conditions?.some((x) => x.type === 'Established' && x.status === 'True') ? c : undefined;
      });
      expect(crd.metadata.annotations).toMatchObject({ 'helm.sh/resource-policy': 'keep', 'meta.helm.sh/release-name': 'mq', 'meta.helm.sh/release-namespace': ns });
    }
  }, 90_000);

  test('the operator pod passes the "restricted" Pod Security Standard of its namespace', async () => {
    const dep = await rest.get<Deployment>(`/apis/apps/v1/namespaces/${ns}/deployments/mq-mqbridge`);
    const pod = { apiVersion: 'v1', kind: 'Pod', metadata: { name: 'operator-pod-check', namespace: ns }, spec: dep.spec.template.spec };
    await rest.create(`/api/v1/namespaces/${ns}/pods?dryRun=All`, pod, 'chart-test');
    // The check is real: a pod without the hardening is refused there.
    const bare = { ...pod, spec: { containers: [{ name: 'x', image: 'busybox' }] } };
    await expect(rest.create(`/api/v1/namespaces/${ns}/pods?dryRun=All`, bare, 'chart-test')).rejects.toThrow(/violates PodSecurity "restricted/);
  });

  test('RBAC (all namespaces): the ServiceAccount may do what the operator does, and nothing of the rest', async () => {
    const user = sa('mq', ns);
    await expectAccess(user, [
      ...[undefined, nsA, 'default'].flatMap((n) => operatorNeeds(n).map((a): [SarAttrs, boolean] => [a, true])),
      ...[undefined, nsA, ns].flatMap((n) => forbidden(n).map((a): [SarAttrs, boolean] => [a, false])),
      // Leader election: the one Lease, in the release namespace only.
      [{ verb: 'create', group: 'coordination.k8s.io', resource: 'leases', namespace: ns }, true],
      [{ verb: 'get', group: 'coordination.k8s.io', resource: 'leases', name: 'mqbridge-operator', namespace: ns }, true],
      [{ verb: 'update', group: 'coordination.k8s.io', resource: 'leases', name: 'mqbridge-operator', namespace: ns }, true],
      [{ verb: 'update', group: 'coordination.k8s.io', resource: 'leases', name: 'kube-scheduler', namespace: ns }, false],
      [{ verb: 'get', group: 'coordination.k8s.io', resource: 'leases', name: 'mqbridge-operator', namespace: nsA }, false],
      [{ verb: 'get', group: 'coordination.k8s.io', resource: 'leases', name: 'mqbridge-operator' }, false],
      [{ verb: 'create', group: 'coordination.k8s.io', resource: 'leases', namespace: 'kube-system' }, false],
      [{ verb: 'list', group: 'apiextensions.k8s.io', resource: 'customresourcedefinitions' }, false],
      [{ verb: 'create', group: 'rbac.authorization.k8s.io', resource: 'clusterrolebindings' }, false],
      [{ verb: 'list', resource: 'nodes' }, false],
    ]);
  }, 90_000);

  test('the operator, running with the ServiceAccount token, reconciles the NOTES.txt examples without a permission error', async () => {
    // The objects NOTES.txt tells users to create (they must be valid against the CRDs).
    const notes = await helm('get', 'notes', 'mq', '--namespace', ns);
    const blocks = [...notes.matchAll(/<<'YAML'[^\n]*\n([\s\S]*?)\n\s*YAML\n/g)].map((m) => m[1]!.replace(/^ {2}/gm, ''));
    expect(blocks).toHaveLength(2);
    const examples = blocks.flatMap((b) => parseAllDocuments(b).map((d) => d.toJS() as Obj));
    expect(examples.map((o) => o.kind)).toEqual(['MqttBridge', 'TopicBinding', 'TopicBinding']);
    for (const o of examples) {
      const plural = o.kind === 'MqttBridge' ? 'mqttbridges' : 'topicbindings';
      await rest.create(`/apis/mqbridge.dev/v1alpha1/namespaces/${nsA}/${plural}`, { ...o, metadata: { ...o.metadata, namespace: nsA } }, 'chart-test');
    }

    // A token of the chart's ServiceAccount, in a kubeconfig like the in-cluster one.
    const token = await rest.create<{ status: { token: string } }>(
      `/api/v1/namespaces/${ns}/serviceaccounts/mq-mqbridge/token`,
      { apiVersion: 'authentication.k8s.io/v1', kind: 'TokenRequest', spec: { expirationSeconds: 3600 } },
      'chart-test',
    );
    const admin = new KubeConfig();
    admin.loadFromFile(env.kubeconfig);
    const cluster = admin.getCurrentCluster()!;
    const kubeconfig = join(scratch, 'operator.kubeconfig');
    writeFileSync(
      kubeconfig,
      stringify({
        apiVersion: 'v1',
        kind: 'Config',
        clusters: [{ name: 'test', cluster: { server: cluster.server, 'certificate-authority-data': cluster.caData } }],
        users: [{ name: 'operator', user: { token: token.status.token } }],
        contexts: [{ name: 'operator', context: { cluster: 'test', user: 'operator', namespace: ns } }],
        'current-context': 'operator',
      }),
      { mode: 0o600 },
    );

    // The Deployment's own arguments (all namespaces, leader election), an ephemeral port.
    const dep = await rest.get<Deployment>(`/apis/apps/v1/namespaces/${ns}/deployments/mq-mqbridge`);
    // The policy file the pod would mount from the release's ConfigMap.
    const policy = await rest.get<Obj & { data: Record<string, string> }>(`/api/v1/namespaces/${ns}/configmaps/mq-mqbridge-policy`);
    const policyFile = join(scratch, 'policy.yaml');
    writeFileSync(policyFile, policy.data['policy.yaml']!);
    const args = dep.spec.template.spec.containers[0]!.args
      .filter((a) => !a.startsWith('--http-port'))
      .map((a) => (a.startsWith('--policy-file=') ? `--policy-file=${policyFile}` : a));
    const logs: string[] = [];
    operator = spawn(process.execPath, [OPERATOR_MAIN, '--kubeconfig', kubeconfig, '--http-port=0', ...args], {
      // As the container would run it, with the chart's V8 settings.
      env: { PATH: process.env.PATH, POD_NAME: 'mq-mqbridge-test', POD_NAMESPACE: ns, NODE_OPTIONS: dep.spec.template.spec.containers[0]!.env.find((e) => e.name === 'NODE_OPTIONS')?.value ?? '' },
      stdio: ['ignore', 'pipe', 'pipe'],
    });
    const exited = new Promise<number | null>((r) => operator!.on('exit', (code) => r(code)));
    operator.stdout!.on('data', (d: Buffer) => logs.push(...d.toString().split('\n').filter(Boolean)));
    operator.stderr!.on('data', (d: Buffer) => logs.push(d.toString()));
    const denied = () => logs.filter((l) => l.includes(`"${sa('mq', ns)}" cannot`) || /forbidden: User "system:serviceaccount/.test(l));
    try {
      const port = await waitFor('operator http listening', async () => {
        const l = logs.find((x) => x.includes('operator http listening'));
        return l ? (JSON.parse(l) as { port: number }).port : undefined;
      });
      await waitFor('/readyz 200 (caches synced)', async () => ((await fetch(`http://127.0.0.1:${port}/readyz`)).status === 200 ? true : undefined), 30_000);
      await waitFor('leadership', async () => (logs.some((l) => l.includes('became leader')) ? true : undefined), 30_000);
      const lease = await rest.get<{ spec: { holderIdentity: string } }>(`/apis/coordination.k8s.io/v1/namespaces/${ns}/leases/mqbridge-operator`);
      expect(lease.spec.holderIdentity).toMatch(/^mq-mqbridge-test_/);

      // Every kind it owns, written in the watched namespace, and the status of both kinds.
      for (const path of [
        `/api/v1/namespaces/${nsA}/serviceaccounts/demo-bridge`,
        `/api/v1/namespaces/${nsA}/configmaps/demo-bridge-config`,
        `/apis/apps/v1/namespaces/${nsA}/deployments/demo-bridge`,
        `/api/v1/namespaces/${nsA}/services/demo-mqtt`,
        `/apis/policy/v1/namespaces/${nsA}/poddisruptionbudgets/demo-bridge`,
      ]) {
        await waitFor(path, () => tryGet(path), 45_000);
      }
      await waitFor('MqttBridge status', async () => ((await rest.get<Obj & { status?: { conditions?: unknown[] } }>(`/apis/mqbridge.dev/v1alpha1/namespaces/${nsA}/mqttbridges/demo`)).status?.conditions?.length ? true : undefined), 30_000);
      await waitFor('TopicBinding status', async () => ((await rest.get<Obj & { status?: { conditions?: unknown[] } }>(`/apis/mqbridge.dev/v1alpha1/namespaces/${nsA}/topicbindings/demo-sensors`)).status?.conditions?.length ? true : undefined), 30_000);
      const events = await rest.list<Obj & { reportingController?: string }>(`/apis/events.k8s.io/v1/namespaces/${nsA}/events`);
      expect(events.items.some((e) => e.reportingController === 'mqbridge.dev/operator')).toBe(true);
      // The HPA (and its deletion) too: turn autoscaling on, then off.
      await rest.mergePatch(`/apis/mqbridge.dev/v1alpha1/namespaces/${nsA}/mqttbridges/demo`, { spec: { autoscaling: { maxReplicas: 4 }, sessionStore: { redis: { url: 'redis://redis.demo.svc:6379' } } } }, 'chart-test');
      const hpa = `/apis/autoscaling/v2/namespaces/${nsA}/horizontalpodautoscalers/demo-bridge`;
      await waitFor('HPA created', () => tryGet(hpa), 30_000);
      await rest.mergePatch(`/apis/mqbridge.dev/v1alpha1/namespaces/${nsA}/mqttbridges/demo`, { spec: { autoscaling: null } }, 'chart-test');
      await waitFor('HPA deleted', async () => ((await tryGet(hpa)) ? undefined : true), 30_000);
      expect(denied()).toEqual([]);
    } finally {
      operator.kill('SIGTERM');
      expect(await exited).toBe(0);
    }
    expect(denied()).toEqual([]);
    // It handed the lease back on the way out.
    const lease = await rest.get<{ spec: { holderIdentity?: string } }>(`/apis/coordination.k8s.io/v1/namespaces/${ns}/leases/mqbridge-operator`);
    expect(lease.spec.holderIdentity ?? '').toBe('');
  }, 120_000);

  test('a second release watching two namespaces gets Roles there and nothing cluster-wide', async () => {
    await install('mq2', ns2, `watchNamespaces={${nsA},${nsB}}`, 'crds.install=false', 'replicaCount=1');
    expect(await tryGet('/apis/rbac.authorization.k8s.io/v1/clusterroles/mq2-mqbridge')).toBeUndefined();
    for (const n of [nsA, nsB]) {
      const role = await rest.get<Role>(`/apis/rbac.authorization.k8s.io/v1/namespaces/${n}/roles/mq2-mqbridge`);
      expect(grants(role.rules)).toEqual(OPERATOR_GRANTS);
    }
    const user = sa('mq2', ns2);
    await expectAccess(user, [
      ...[nsA, nsB].flatMap((n) => operatorNeeds(n).map((a): [SarAttrs, boolean] => [a, true])),
      ...[nsA, nsB, ns2].flatMap((n) => forbidden(n).map((a): [SarAttrs, boolean] => [a, false])),
      // Not in namespaces it does not watch, not cluster-wide.
      ...[undefined, ns, 'default'].flatMap((n) => operatorNeeds(n).map((a): [SarAttrs, boolean] => [a, false])),
      [{ verb: 'update', group: 'coordination.k8s.io', resource: 'leases', name: 'mqbridge-operator', namespace: ns2 }, true],
      [{ verb: 'get', group: 'coordination.k8s.io', resource: 'leases', name: 'mqbridge-operator', namespace: ns }, false],
    ]);
    await helm('uninstall', 'mq2', '--namespace', ns2, '--wait=false');
    forget('mq2');
    expect(await tryGet(`/apis/rbac.authorization.k8s.io/v1/namespaces/${nsA}/roles/mq2-mqbridge`)).toBeUndefined();
    // crds.install=false: the first release's CRDs were never touched.
    for (const name of crdNames()) expect((await rest.get<Crd>(crdPath(name))).metadata.annotations?.['meta.helm.sh/release-name']).toBe('mq');
  }, 90_000);

  test('helm upgrade applies a changed CRD (Helm never upgrades a chart\'s crds/ folder)', async () => {
    // The next chart version: the same chart with a changed description in one CRD.
    const next = join(scratch, 'mqbridge');
    cpSync(CHART, next, { recursive: true });
    const file = join(next, 'files/crds/mqbridge.dev_topicbindings.yaml');
    const crd = parse(readFileSync(file, 'utf8')) as Crd;
    const before = crd.spec.versions[0]!.schema.openAPIV3Schema.description;
    const changed = `${before} (changed by the chart upgrade test)`;
    crd.spec.versions[0]!.schema.openAPIV3Schema.description = changed;
    writeFileSync(file, stringify(crd));
    const path = crdPath('topicbindings.mqbridge.dev');
    const generation = (await rest.get<Crd>(path)).metadata.generation!;

    await helm('upgrade', 'mq', next, '--namespace', ns, '--wait=false', '--timeout', '60s');
    const upgraded = await rest.get<Crd>(path);
    expect(upgraded.spec.versions[0]!.schema.openAPIV3Schema.description).toBe(changed);
    expect(upgraded.metadata.generation).toBeGreaterThan(generation);

    // And back: the repository's chart restores the repository's CRD.
    await helm('upgrade', 'mq', CHART, '--namespace', ns, '--wait=false', '--timeout', '60s');
    expect((await rest.get<Crd>(path)).spec.versions[0]!.schema.openAPIV3Schema.description).toBe(before);
    expect(await helm('history', 'mq', '--namespace', ns, '--max', '10')).toMatch(/3\s+.*deployed/);
  }, 90_000);

  test('helm uninstall removes the operator but keeps the CRDs and every custom resource', async () => {
    await helm('uninstall', 'mq', '--namespace', ns, '--wait=false');
    forget('mq');
    expect(await tryGet(`/apis/apps/v1/namespaces/${ns}/deployments/mq-mqbridge`)).toBeUndefined();
    expect(await tryGet('/apis/rbac.authorization.k8s.io/v1/clusterroles/mq-mqbridge')).toBeUndefined();
    expect(await tryGet(`/apis/rbac.authorization.k8s.io/v1/namespaces/${ns}/roles/mq-mqbridge-leader-election`)).toBeUndefined();
    await sleep(1_000);
    for (const name of crdNames()) {
      const crd = await tryGet<Crd>(crdPath(name));
      expect(crd?.metadata.name).toBe(name);
      expect(crd?.metadata.deletionTimestamp).toBeUndefined();
    }
    expect(await tryGet(`/apis/mqbridge.dev/v1alpha1/namespaces/${nsA}/mqttbridges/demo`)).toBeDefined();
    expect(await tryGet(`/apis/mqbridge.dev/v1alpha1/namespaces/${nsA}/topicbindings/demo-sensors`)).toBeDefined();
  }, 60_000);
});
