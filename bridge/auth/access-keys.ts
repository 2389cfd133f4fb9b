import { createHash } from 'node:crypto';
import { readdir, readFile } from 'node:fs/promises';
import { join } from 'node:path';
import type { Logger } from '../observability/log.js';
import { isAccessKeyId } from './credentials.js';

/**
 * The access keys devices sign with: a directory with one file per key, named by the
 * AccessKeyId and holding the AccessKeySecret — the layout of a mounted Kubernetes Secret.
 * Polled, so a key added, rotated or removed in the Secret takes effect without a restart.
 * Secrets never leave this object except to verify a signature.
 */
export class AccessKeyStore {
  private keys = new Map<string, string>();
  private hash = '';
  private timer: NodeJS.Timeout | undefined;

  constructor(
    private readonly dir: string,
    private readonly log: Logger,
  ) {}

  get size(): number {
    return this.keys.size;
  }

  secretOf = (accessKeyId: string): string | undefined => this.keys.get(accessKeyId);

  async load(): Promise<boolean> {
    const names = (await readdir(this.dir)).filter((n) => !n.startsWith('.') && isAccessKeyId(n)).sort();
    const entries = await Promise.all(names.map(async (n) => [n, (await readFile(join(this.dir, n), 'utf8')).trim()] as const));
    const next = new Map(entries.filter(([, secret]) => secret.length > 0));
    const hash = createHash('sha256').update(JSON.stringify([...next])).digest('hex');
    if (hash === this.hash) return false;
    this.hash = hash;
    this.keys = next;
    this.log.info({ accessKeyIds: [...next.keys()] }, 'access keys loaded');
    return true;
  }

  watch(pollMs: number, onReload: (result: 'applied' | 'invalid') => void): void {
    this.timer = setInterval(() => {
      this.load().then(
        (changed) => changed && onReload('applied'),
        (err: Error) => {
          this.log.error({ dir: this.dir, err: err.message }, 'cannot read the access keys; keeping the ones loaded');
          onReload('invalid');
        },
      );
    }, pollMs);
    this.timer.unref();
  }

  stop(): void {
    clearInterval(this.timer);
  }
}
