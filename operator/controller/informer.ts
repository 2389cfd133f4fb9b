import { makeInformer, type KubeConfig, type KubernetesObject, type ObjectCache } from '@kubernetes/client-node';
import type { Logger } from 'pino';
import type { KubeRest } from '../k8s/rest.js';

export interface WatchedCache<T extends KubernetesObject> extends ObjectCache<T> {
  stop(): Promise<void>;
  synced: Promise<void>;
}

/**
 * A list-watch cache of one resource that keeps itself alive: client-node's informer stops
 * for good on any watch error other than 410 Gone, so it is restarted here with backoff.
 * Every add, update and delete calls `onEvent` (the controller enqueues keys from it).
 */
export function watchResource<T extends KubernetesObject>(
  kc: KubeConfig,
  rest: KubeRest,
  path: string,
  onEvent: (obj: T, verb: 'add' | 'update' | 'delete') => void,
  log: Logger,
  labelSelector?: string,
): WatchedCache<T> {
  const query = labelSelector ? { labelSelector } : undefined;
  const informer = makeInformer<T>(kc, path, () => rest.list<T>(path, query) as never, labelSelector);
  let stopped = false;
  let delay = 500;
  informer.on('add', (o) => onEvent(o, 'add'));
  informer.on('update', (o) => onEvent(o, 'update'));
  informer.on('delete', (o) => onEvent(o, 'delete'));
  informer.on('connect', () => {
    delay = 500;
  });
  informer.on('error', (err) => {
    if (stopped) return;
    log.warn({ path, err: String((err as Error)?.message ?? err), retryInMs: delay }, 'watch failed; restarting');
    setTimeout(() => {
      if (!stopped) informer.start().catch(() => undefined);
    }, delay).unref();
    delay = Math.min(delay * 2, 30_000);
  });
  const synced = startUntilListed(informer, log, path, () => stopped);
  const stopInformer = informer.stop.bind(informer);
  return Object.assign(informer, {
    synced,
    stop: async () => {
      stopped = true;
      await stopInformer();
    },
  }) as unknown as WatchedCache<T>;
}

async function startUntilListed(informer: { start(): Promise<void> }, log: Logger, path: string, isStopped: () => boolean): Promise<void> {
  let delay = 500;
  for (;;) {
    try {
      await informer.start();
      return;
    } catch (err) {
      if (isStopped()) return;
      log.warn({ path, err: (err as Error).message, retryInMs: delay }, 'initial list failed; retrying');
      await new Promise((r) => setTimeout(r, delay));
      delay = Math.min(delay * 2, 30_000);
    }
  }
}
