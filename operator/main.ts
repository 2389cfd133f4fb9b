#!/usr/bin/env node
import { createServer } from 'node:http';
import { hostname } from 'node:os';
import { parseArgs } from 'node:util';
import { randomBytes } from 'node:crypto';
import { KubeConfig } from '@kubernetes/client-node';
import { pino } from 'pino';
import { LeaderElector } from './controller/leader.js';
import { Manager } from './controller/manager.js';
import { OperatorMetrics } from './controller/metrics.js';
import { KubeRest } from './k8s/rest.js';
import { BridgeReconciler } from './reconcile/bridge-reconciler.js';
import { EventRecorder } from './reconcile/events.js';
import { allowedImages } from './policy/admission.js';
import { loadPolicy, type OperatorPolicy } from './policy/operator-policy.js';
import { TopicChecker } from './rocketmq/topic-checker.js';

const USAGE = `usage: mqbridge-operator [options]
  --kubeconfig FILE              default: $KUBECONFIG, else in-cluster, else ~/.kube/config
  --watch-namespaces a,b         default: all namespaces
  --leader-elect                 run leader election (needed with more than one replica)
  --leader-election-namespace N  default: $POD_NAMESPACE or "default"
  --bridge-image IMAGE           image of bridge pods whose MqttBridge names none
  --policy-file FILE             what MqttBridges may ask for (allowed images, tolerations,
                                 RocketMQ topic and group prefixes per namespace); default: $POLICY_FILE,
                                 else only the --bridge-image repository, no other limits
  --http-port N                  /metrics, /healthz, /readyz (default 8080)
  --workers N                    concurrent reconciles (default 2)
  --resync-seconds N             full resync period to repair drift (default 60)
  --log-level LEVEL              default info`;

function options() {
  const { values } = parseArgs({
    options: {
      kubeconfig: { type: 'string' },
      'watch-namespaces': { type: 'string', default: process.env.WATCH_NAMESPACES ?? '' },
      'leader-elect': { type: 'boolean', default: false },
      'leader-election-namespace': { type: 'string', default: process.env.POD_NAMESPACE ?? 'default' },
      'bridge-image': { type: 'string', default: process.env.BRIDGE_IMAGE ?? 'ghcr.io/mqbridge/bridge:0.1.0' },
      'policy-file': { type: 'string', default: process.env.POLICY_FILE },
      'http-port': { type: 'string', default: '8080' },
      workers: { type: 'string', default: '2' },
      'resync-seconds': { type: 'string', default: '60' },
      'log-level': { type: 'string', default: 'info' },
      help: { type: 'boolean', short: 'h' },
    },
  });
  if (values.help) {
    console.log(USAGE);
    process.exit(0);
  }
  const number = (name: string, v: string, min: number) => {
    const n = Number(v);
    if (!Number.isInteger(n) || n < min) {
      console.error(`--${name} must be a whole number >= ${min}, got "${v}"\n${USAGE}`);
      process.exit(2);
    }
    return n;
  };
  return {
    kubeconfig: values.kubeconfig,
    namespaces: values['watch-namespaces'].split(',').map((s) => s.trim()).filter(Boolean),
    leaderElect: values['leader-elect'],
    leaseNamespace: values['leader-election-namespace'],
    bridgeImage: values['bridge-image'],
    policyFile: values['policy-file'],
    httpPort: number('http-port', values['http-port'], 0),
    workers: number('workers', values.workers, 1),
    resyncMs: number('resync-seconds', values['resync-seconds'], 1) * 1000,
    logLevel: values['log-level'],
  };
}

function loadKubeConfig(file: string | undefined): KubeConfig {
  const kc = new KubeConfig();
  if (file) kc.loadFromFile(file);
  else kc.loadFromDefault();
  return kc;
}

async function main(): Promise<void> {
  const opts = options();
  const log = pino({ name: 'mqbridge-operator', level: opts.logLevel });
  let policy: OperatorPolicy;
  try {
    policy = loadPolicy(opts.policyFile, opts.bridgeImage);
  } catch (err) {
    log.fatal({ file: opts.policyFile, err: (err as Error).message }, 'cannot load the policy');
    process.exit(2);
  }
  log.info({ file: opts.policyFile, allowedImages: allowedImages(policy), tenancyNamespaces: Object.keys(policy.tenancy.namespaces), restrictUnlisted: policy.tenancy.restrictUnlisted }, 'policy loaded');
  const identity = `${process.env.POD_NAME ?? hostname()}_${randomBytes(4).toString('hex')}`;
  const metrics = new OperatorMetrics();
  const kc = loadKubeConfig(opts.kubeconfig);
  const rest = new KubeRest(kc, (verb, path) => metrics.countWrite(verb, path));
  const manager = new Manager(kc, rest, { namespaces: opts.namespaces, workers: opts.workers, resyncMs: opts.resyncMs }, metrics, log);
  const topics = new TopicChecker(log);
  const reconciler = new BridgeReconciler({
    rest,
    caches: manager.caches,
    topics,
    events: new EventRecorder(rest, identity, log),
    render: { defaultImage: opts.bridgeImage },
    policy,
    log,
  });
  const elector = opts.leaderElect
    ? new LeaderElector(rest, { namespace: opts.leaseNamespace, name: 'mqbridge-operator', identity }, log)
    : undefined;

  let synced = false;
  const server = createServer((req, res) => {
    const path = (req.url ?? '/').split('?')[0];
    if (path === '/healthz') res.writeHead(200).end('ok\n');
    else if (path === '/readyz') res.writeHead(synced ? 200 : 503).end(synced ? 'ok\n' : 'caches not synced\n');
    else if (path === '/metrics') metrics.registry.metrics().then((t) => res.writeHead(200, { 'content-type': metrics.registry.contentType }).end(t));
    else res.writeHead(404).end();
  });
  server.on('error', (err) => {
    log.fatal({ port: opts.httpPort, err: err.message }, 'cannot serve /metrics and /healthz');
    process.exit(1);
  });
  server.listen(opts.httpPort, () => log.info({ port: (server.address() as { port: number }).port, identity }, 'operator http listening'));

  let stopping = false;
  let election: Promise<unknown> = Promise.resolve();
  const shutdown = async (code: number) => {
    if (stopping) return;
    stopping = true;
    elector?.stop();
    await manager.stop();
    // Releasing the lease lets another replica lead at once instead of after it expires.
    await election;
    await topics.close();
    server.close();
    log.info('operator stopped');
    process.exit(code);
  };
  process.on('SIGTERM', () => void shutdown(0));
  process.on('SIGINT', () => void shutdown(0));

  await manager.synced();
  synced = true;
  log.info({ namespaces: opts.namespaces.length ? opts.namespaces : 'all' }, 'caches synced');
  const lead = () => {
    metrics.leader.set(1);
    manager.start(reconciler);
  };
  if (!elector) return lead();
  const running = elector.run(lead);
  election = running;
  const result = await running;
  metrics.leader.set(0);
  // Like controller-runtime: a replica that lost the lease exits at once and starts over as a
  // candidate. It does not wait for its reconciles: another replica may lead by now.
  if (result === 'lost') {
    log.error('exiting: leadership lost');
    process.exit(1);
  }
}

main().catch((err: unknown) => {
  console.error(err instanceof Error ? err.stack : err);
  process.exit(1);
});
