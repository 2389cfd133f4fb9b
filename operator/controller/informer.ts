import { ListWatch, Watch, makeInformer, type KubeConfig, type KubernetesObject, type ObjectCache } from '@kubernetes/client-node';
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
  metadataOnly = false,
): WatchedCache<T> {
  const query = labelSelector ? { labelSelector } : undefined;
  const informer = metadataOnly
    ? new ListWatch<T>(path, new Watch(metadataConfig(kc)), () => rest.list<T>(path, query, PARTIAL_METADATA_LIST) as never, false, labelSelector)
    : makeInformer<T>(kc, path, () => rest.list<T>(path, query) as never, labelSelector);
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

const PARTIAL_METADATA_LIST = 'application/json;as=PartialObjectMetadataList;g=meta.k8s.io;v=v1';
const PARTIAL_METADATA = 'application/json;as=PartialObjectMetadata;g=meta.k8s.io;v=v1';

/**
 * The KubeConfig with one change: its requests ask for object metadata only. client-node's
 * Watch has no way to set the Accept header, and a Secret's data must never reach the operator:
 * the API server then sends every watch event as a PartialObjectMetadata.
 */
function metadataConfig(kc: KubeConfig): KubeConfig {
  return Object.create(kc, {
    applySecurityAuthentication: {
      value: async (context: { setHeaderParam(key: string, value: string): void }) => {
        await kc.applySecurityAuthentication(context as never);
        context.setHeaderParam('Accept', PARTIAL_METADATA);
      },
    },
  }) as KubeConfig;
}
