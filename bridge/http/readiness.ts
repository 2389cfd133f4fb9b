import type { Readiness } from './server.js';

/** What a pod's readiness is decided from, read from its parts at each `/readyz`. */
export interface ReadinessState {
  listening: boolean;
  stopping: boolean;
  producerStarted: boolean;
  rocketmqUp: boolean;
  revocationsKnown: boolean;
  /** Undefined without a session store (one pod, in memory). */
  sessionStoreUp: boolean | undefined;
  connections: number;
  maxConnections: number;
}

/**
 * Whether the pod should get new connections, and each reason it should not. Every check is a
 * state that can be false; one that could not (a check that always passed) would only pad the
 * answer. Pure.
 */
export function readinessOf(s: ReadinessState): Readiness {
  const checks = {
    listening: s.listening && !s.stopping,
    rocketmqProducer: s.producerStarted,
    rocketmqReachable: s.rocketmqUp,
    tokenRevocationsKnown: s.revocationsKnown,
    ...(s.sessionStoreUp !== undefined ? { sessionStore: s.sessionStoreUp } : {}),
    // A full pod keeps its connections; unready, it gets no new ones from the Service (they would be refused).
    roomForConnections: s.connections < s.maxConnections,
  };
  return { ready: Object.values(checks).every(Boolean), checks };
}
