import { createHash } from 'node:crypto';
import { readFile } from 'node:fs/promises';
import type { SecureContextOptions } from 'node:tls';
import type { Logger } from '../observability/log.js';

export interface TlsFiles {
  certFile: string;
  keyFile: string;
  caFile?: string | undefined;
}

/**
 * The PEM files of the TLS listeners. They usually come from a mounted Secret, which
 * Kubernetes updates in place when the certificate is renewed; a poll notices the change and
 * every listener switches to the new certificate for new connections, without a restart.
 */
export class TlsMaterial {
  private hash = '';
  private timer: NodeJS.Timeout | undefined;
  private readonly listeners: ((ctx: SecureContextOptions) => void)[] = [];
  current: SecureContextOptions = {};

  constructor(
    private readonly files: TlsFiles,
    private readonly log: Logger,
  ) {}

  /** Loads the files; throws with the file name when one cannot be read. */
  async load(): Promise<SecureContextOptions> {
    const read = (path: string) =>
      readFile(path).catch((err: Error) => {
        throw new Error(`cannot read TLS file ${path}: ${err.message}`);
      });
    const [cert, key, ca] = await Promise.all([read(this.files.certFile), read(this.files.keyFile), this.files.caFile ? read(this.files.caFile) : undefined]);
    this.hash = createHash('sha256').update(cert).update(key).update(ca ?? '').digest('hex');
    this.current = { cert, key, ...(ca ? { ca } : {}) };
    return this.current;
  }

  onChange(listener: (ctx: SecureContextOptions) => void): void {
    this.listeners.push(listener);
  }

  watch(pollMs: number, onReload: (result: 'applied' | 'invalid') => void): void {
    this.timer = setInterval(() => void this.check(onReload), pollMs);
    this.timer.unref();
  }

  stop(): void {
    clearInterval(this.timer);
  }

  private async check(onReload: (result: 'applied' | 'invalid') => void): Promise<void> {
    const before = this.hash;
    const previous = this.current;
    try {
      const next = await this.load();
      if (this.hash === before) return;
      for (const listener of this.listeners) listener(next);
      this.log.info({ certFile: this.files.certFile }, 'TLS certificate reloaded');
      onReload('applied');
    } catch (err) {
      // Half-written or mismatched files: keep serving with the previous certificate.
      this.hash = before;
      this.current = previous;
      this.log.error({ err: (err as Error).message }, 'new TLS material is unusable; keeping the previous one');
      onReload('invalid');
    }
  }
}
