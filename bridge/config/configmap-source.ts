import { KubeConfig, Watch } from '@kubernetes/client-node';

export interface ConfigMapRef {
  namespace: string;
  name: string;
  /** The data key that holds the bridge config. */
  key: string;
}

export interface ConfigMapHandlers {
  /** The ConfigMap's text, on every watch event (the same text again after a reconnect). */
  onText(text: string): void;
  /** The watch could not start or ended with an error; it is retried after `retryInMs`. */
  onError(err: Error, retryInMs: number): void;
  onConnected?(): void;
}

/** Where the bridge's API credentials come from: a kubeconfig file, else the pod's service account. */
export function kubeConfigFor(kubeconfigPath: string | undefined): KubeConfig | undefined {
  const kc = new KubeConfig();
  if (kubeconfigPath) {
    kc.loadFromFile(kubeconfigPath);
    return kc;
  }
  if (!process.env.KUBERNETES_SERVICE_HOST) return undefined; // not in a pod
  kc.loadFromCluster();
  return kc;
}

const MIN_RETRY_MS = 500;
const MAX_RETRY_MS = 30_000;

/**
 * Follows the bridge's ConfigMap through the API server, so a binding change is in force within
 * milliseconds of its write instead of when the kubelet next refreshes the mounted file (about a
 * minute by default). One object by name: the pod's Role may read that ConfigMap and nothing
 * else. A watch without a resourceVersion starts with the object as it is, so every (re)connect
 * delivers the current text; the bridge ignores texts already in force.
 */
export class ConfigMapSource {
  private abort: AbortController | undefined;
  private timer: NodeJS.Timeout | undefined;
  private stopped = false;
  private retryMs = MIN_RETRY_MS;
  private connectedAt = 0;

  constructor(
    private readonly ref: ConfigMapRef,
    private readonly kc: KubeConfig,
    private readonly handlers: ConfigMapHandlers,
  ) {}

  start(): void {
    void this.connect();
  }

  stop(): void {
    this.stopped = true;
    clearTimeout(this.timer);
    this.abort?.abort();
  }

  private async connect(): Promise<void> {
    if (this.stopped) return;
    const path = `/api/v1/namespaces/${encodeURIComponent(this.ref.namespace)}/configmaps`;
    const query = { fieldSelector: `metadata.name=${this.ref.name}`, allowWatchBookmarks: false };
    try {
      this.connectedAt = Date.now();
      this.abort = await new Watch(this.kc).watch(path, query, (phase, obj: { data?: Record<string, string> }) => this.onEvent(phase, obj), (err: unknown) => this.ended(err));
      this.handlers.onConnected?.();
    } catch (err) {
      this.ended(err);
    }
  }

  private onEvent(phase: string, obj: { data?: Record<string, string> }): void {
    this.retryMs = MIN_RETRY_MS;
    if (phase !== 'ADDED' && phase !== 'MODIFIED') return;
    const text = obj.data?.[this.ref.key];
    if (text !== undefined) this.handlers.onText(text);
  }

  /**
   * A watch ends after the API server's timeout (normal: reconnect at once) or with an error
   * (back off); one that ends as soon as it began counts as an error, or it would spin.
   */
  private ended(err: unknown): void {
    this.abort = undefined;
    if (this.stopped) return;
    const failed = err !== null && err !== undefined ? err : Date.now() - this.connectedAt < MIN_RETRY_MS * 2 ? new Error('the watch ended at once') : undefined;
    const delay = failed ? this.retryMs : 0;
    if (failed) {
      this.handlers.onError(failed instanceof Error ? failed : new Error(String(failed)), delay);
      this.retryMs = Math.min(this.retryMs * 2, MAX_RETRY_MS);
    }
    this.timer = setTimeout(() => void this.connect(), delay);
    this.timer.unref();
  }
}
