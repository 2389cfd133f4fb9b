/** Where the real RocketMQ started by test/env/rocketmq.sh listens, and the topics it created. */
export const ROCKETMQ_ENDPOINT = process.env.MQBRIDGE_TEST_ROCKETMQ ?? '127.0.0.1:18081';

/** Topics created by test/run.sh before the integration tests start (see TEST_TOPICS there). */
export const TOPICS = {
  normal: 'IT_NORMAL',
  fifo: 'IT_FIFO',
  down: 'IT_DOWN',
  p2p: 'IT_P2P',
  fault: 'IT_FAULT',
  reload: 'IT_RELOAD',
  cluster: 'IT_CLUSTER',
  clusterFault: 'IT_CLUSTER_FAULT',
  clusterRoll: 'IT_CLUSTER_ROLL',
  isolation: 'IT_ISOLATION',
} as const;

/**
 * Consumer groups created by test/run.sh (the proxy refuses consumers of unknown groups).
 * Consumers running at the same time need groups of their own, or they share the messages.
 */
export const GROUPS = {
  appNormal: 'IT_APP_NORMAL',
  appFifo: 'IT_APP_FIFO',
  appDown: 'IT_APP_DOWN',
  appP2p: 'IT_APP_P2P',
  appFault: 'IT_APP_FAULT',
  appReload: 'IT_APP_RELOAD',
  bridgeUplink: 'IT_BRIDGE_UPLINK',
  bridgeDownlink: 'IT_BRIDGE_DOWNLINK',
  bridgeDownlink2: 'IT_BRIDGE_DOWNLINK2',
  bridgeP2p: 'IT_BRIDGE_P2P',
  bridgeRefusals: 'IT_BRIDGE_REFUSALS',
  bridgeFaults: 'IT_BRIDGE_FAULTS',
  bridgeReload: 'IT_BRIDGE_RELOAD',
  bridgeSigterm: 'IT_BRIDGE_SIGTERM',
  bridgeTls: 'IT_BRIDGE_TLS',
  bridgeMtls: 'IT_BRIDGE_MTLS',
  bridgeTokens: 'IT_BRIDGE_TOKENS',
  bridgeOperatorAuth: 'IT_BRIDGE_OPAUTH',
  appCluster: 'IT_APP_CLUSTER',
  bridgeCluster: 'IT_BRIDGE_CLUSTER',
  appClusterFault: 'IT_APP_CLUSTER_FAULT',
  bridgeClusterFault: 'IT_BRIDGE_CLUSTER_FAULT',
  appClusterRoll: 'IT_APP_CLUSTER_ROLL',
  bridgeClusterRoll: 'IT_BRIDGE_CLUSTER_ROLL',
  bridgeIsolation: 'IT_BRIDGE_ISOLATION',
  bridgeIsolationCluster: 'IT_BRIDGE_ISOLATION_CLUSTER',
  bridgeSubscribe: 'IT_BRIDGE_SUBSCRIBE',
  bridgeSubscribeCluster: 'IT_BRIDGE_SUBSCRIBE_CLUSTER',
} as const;

/** The Redis started by test/env/redis.sh: the session store and token revocation list shared by several bridges. */
export const REDIS_URL = process.env.MQBRIDGE_TEST_REDIS ?? 'redis://127.0.0.1:16380';

export function uniqueId(prefix: string): string {
  return `${prefix}${Date.now().toString(36)}${Math.random().toString(36).slice(2, 8)}`;
}

export function waitFor<T>(what: string, probe: () => T | undefined | Promise<T | undefined>, timeoutMs = 20_000, everyMs = 50): Promise<T> {
  const deadline = Date.now() + timeoutMs;
  return new Promise((resolve, reject) => {
    const attempt = async () => {
      try {
        const value = await probe();
        if (value !== undefined && value !== false) return resolve(value as T);
      } catch {
        // not yet
      }
      if (Date.now() > deadline) return reject(new Error(`timed out waiting for ${what}`));
      setTimeout(() => void attempt(), everyMs);
    };
    void attempt();
  });
}

export const sleep = (ms: number) => new Promise((r) => setTimeout(r, ms));
