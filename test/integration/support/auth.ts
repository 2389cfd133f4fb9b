import { mkdtemp, writeFile } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import type { IClientOptions } from 'mqtt';
import { signatureFor } from '../../../bridge/auth/signature.js';
import { issueToken, type TokenAction } from '../../../bridge/auth/token.js';

/** Access keys in a directory, as a mounted Secret gives them to the bridge. */
export class TestKeys {
  private constructor(
    readonly dir: string,
    readonly instanceId: string,
    private readonly secrets: Record<string, string>,
  ) {}

  static async create(instanceId: string, secrets: Record<string, string>): Promise<TestKeys> {
    const dir = await mkdtemp(join(tmpdir(), 'mqbridge-keys-'));
    for (const [ak, secret] of Object.entries(secrets)) await writeFile(join(dir, ak), `${secret}\n`);
    return new TestKeys(dir, instanceId, secrets);
  }

  /** The `auth` section of a bridge config using these keys. */
  authConfig(mode: 'Signature' | 'Token' | 'SignatureOrToken' = 'SignatureOrToken', extra: Record<string, unknown> = {}) {
    return { mode, instanceId: this.instanceId, accessKeysDir: this.dir, maxFailuresPerMinute: 1000, tokenApi: { enabled: false }, ...extra };
  }

  secret(ak: string): string {
    const secret = this.secrets[ak];
    if (secret === undefined) throw new Error(`no test key ${ak}`);
    return secret;
  }

  token(ak: string, actions: TokenAction[], resources: string[], opts: { clientId?: string; ttl?: number } = {}): string {
    const now = Math.floor(Date.now() / 1000);
    return issueToken({ accessKeyId: ak, secret: this.secret(ak), resources, actions, ttlSeconds: opts.ttl ?? 3600, now, ...(opts.clientId ? { clientId: opts.clientId } : {}) }).token;
  }

  /** CONNECT options of a Token-mode login with `RW|<token>` (or the given password). */
  tokenLogin(clientId: string, ak: string, password: string, extra: IClientOptions = {}): IClientOptions {
    return { clientId, username: `Token|${ak}|${this.instanceId}`, password, ...extra };
  }

  signatureLogin(clientId: string, ak: string, extra: IClientOptions = {}): IClientOptions {
    return { clientId, username: `Signature|${ak}|${this.instanceId}`, password: signatureFor(this.secret(ak), clientId), ...extra };
  }
}
