import { request as httpsRequest, type RequestOptions } from 'node:https';
import { request as httpRequest } from 'node:http';
import type { KubeConfig, KubernetesObject } from '@kubernetes/client-node';

export class ApiError extends Error {
  constructor(
    readonly status: number,
    readonly reason: string,
    message: string,
  ) {
    super(message);
    this.name = 'ApiError';
  }
}

export const isNotFound = (err: unknown) => err instanceof ApiError && err.status === 404;
export const isConflict = (err: unknown) => err instanceof ApiError && err.status === 409;

export interface List<T> {
  metadata: { resourceVersion?: string };
  items: T[];
}

export type WriteVerb = 'apply' | 'create' | 'update' | 'patch' | 'delete';

/**
 * Every API call ends within this: below the leader lease (15 s) and at the renew deadline
 * (10 s), so a reconcile's write cannot land long after this replica stopped leading.
 */
export const REQUEST_TIMEOUT_MS = 10_000;
/** A list (an informer's first read of a large fleet) may take longer; it writes nothing. */
const LIST_TIMEOUT_MS = 60_000;

/**
 * A small REST client for the API server. client-node's generated APIs cover neither
 * server-side apply on subresources nor arbitrary custom resources comfortably; this goes
 * straight to the paths, authenticated by the KubeConfig, and reports every write so the
 * operator can show (and tests can check) how much it writes.
 */
export class KubeRest {
  private readonly server: URL;

  constructor(
    private readonly kc: KubeConfig,
    private readonly onWrite: (verb: WriteVerb, path: string) => void = () => undefined,
    private readonly timeoutMs = REQUEST_TIMEOUT_MS,
  ) {
    const cluster = kc.getCurrentCluster();
    if (!cluster) throw new Error('kubeconfig has no current cluster');
    this.server = new URL(cluster.server);
  }

  get<T>(path: string): Promise<T> {
    return this.call<T>('GET', path);
  }

  /** `accept`: another representation, e.g. PartialObjectMetadataList (metadata only). */
  list<T>(path: string, query: Record<string, string> = {}, accept?: string): Promise<List<T>> {
    return this.call<List<T>>('GET', path, undefined, undefined, query, accept, LIST_TIMEOUT_MS);
  }

  /** Server-side apply under `fieldManager`; `force` takes over conflicting fields. */
  apply<T extends KubernetesObject>(path: string, obj: T, fieldManager: string, force = true): Promise<T> {
    this.onWrite('apply', path);
    return this.call<T>('PATCH', path, obj, 'application/apply-patch+yaml', { fieldManager, force: String(force) });
  }

  mergePatch<T>(path: string, patch: unknown, fieldManager: string): Promise<T> {
    this.onWrite('patch', path);
    return this.call<T>('PATCH', path, patch, 'application/merge-patch+json', { fieldManager });
  }

  create<T>(path: string, obj: unknown, fieldManager: string): Promise<T> {
    this.onWrite('create', path);
    return this.call<T>('POST', path, obj, 'application/json', { fieldManager });
  }

  update<T>(path: string, obj: unknown, fieldManager: string): Promise<T> {
    this.onWrite('update', path);
    return this.call<T>('PUT', path, obj, 'application/json', { fieldManager });
  }

  delete(path: string): Promise<unknown> {
    this.onWrite('delete', path);
    return this.call('DELETE', path, { kind: 'DeleteOptions', apiVersion: 'v1', propagationPolicy: 'Background' }, 'application/json');
  }

  private async call<T>(method: string, path: string, body?: unknown, contentType?: string, query: Record<string, string> = {}, accept = 'application/json', timeoutMs = this.timeoutMs): Promise<T> {
    const url = new URL(this.server.pathname.replace(/\/$/, '') + path, this.server);
    for (const [k, v] of Object.entries(query)) url.searchParams.set(k, v);
    const options: RequestOptions = {
      method,
      hostname: url.hostname,
      port: url.port,
      path: url.pathname + url.search,
      headers: { accept, ...(contentType ? { 'content-type': contentType } : {}) },
    };
    await this.kc.applyToHTTPSOptions(options);
    const payload = body === undefined ? undefined : JSON.stringify(body);
    const send = url.protocol === 'http:' ? httpRequest : httpsRequest;
    return new Promise<T>((resolve, reject) => {
      const req = send(options, (res) => {
        const chunks: Buffer[] = [];
        res.on('data', (c: Buffer) => chunks.push(c));
        res.on('end', () => {
          const text = Buffer.concat(chunks).toString('utf8');
          const status = res.statusCode ?? 0;
          if (status >= 200 && status < 300) return resolve((text ? JSON.parse(text) : undefined) as T);
          let reason = 'Unknown';
          let message = text || `HTTP ${status}`;
          try {
            const s = JSON.parse(text) as { reason?: string; message?: string };
            reason = s.reason ?? reason;
            message = s.message ?? message;
          } catch {
            // not a Status object
          }
          reject(new ApiError(status, reason, `${method} ${path}: ${status} ${reason}: ${message}`));
        });
      });
      // The whole call, not only an idle socket: a trickling answer is as late as none.
      const deadline = setTimeout(() => req.destroy(new Error(`${method} ${path}: no answer within ${timeoutMs} ms`)), timeoutMs);
      req.on('close', () => clearTimeout(deadline));
      req.on('error', reject);
      if (payload !== undefined) req.write(payload);
      req.end();
    });
  }
}
