import type { Client, PublishPacket } from 'aedes';
import type { Logger } from '../observability/log.js';
import type { BridgeMetrics } from '../observability/metrics.js';
import { AccessKeyStore } from './access-keys.js';
import { authenticate, renewSession, type AuthConfig, type Session } from './authenticator.js';
import { FailureLimiter } from './failure-limiter.js';
import { isOwnP2PInbox } from './resources.js';
import type { RevocationList } from './revocations.js';
import type { TokenApiDeps } from './token-api.js';
import { TOKEN_RENEWAL_TOPIC } from './token.js';

type AuthenticateError = Error & { returnCode: 1 | 2 | 3 | 4 | 5 };
const nowSeconds = () => Math.floor(Date.now() / 1000);

/**
 * Device authentication and authorization for the embedded MQTT server: checks CONNECTs,
 * keeps what each connection may do, takes token renewals on `$SYS/uploadToken`, and
 * disconnects a Token-mode client when its tokens expire without renewal or one is revoked.
 */
export class AuthService {
  private readonly keys: AccessKeyStore | undefined;
  private readonly limiter: FailureLimiter;
  private readonly sessions = new WeakMap<Client, Session>();
  private readonly expiry = new WeakMap<Client, NodeJS.Timeout>();
  /** Connected clients by the ids of the tokens they use, to disconnect them on revocation. */
  private readonly byTokenId = new Map<string, Set<Client>>();

  constructor(
    private readonly cfg: AuthConfig,
    private readonly metrics: BridgeMetrics,
    private readonly log: Logger,
    private readonly revocations: RevocationList,
  ) {
    this.keys = cfg.mode === 'None' ? undefined : new AccessKeyStore(cfg.accessKeysDir!, log);
    this.limiter = new FailureLimiter(cfg.maxFailuresPerMinute);
    revocations.onRevoked((id) => this.disconnectRevoked(id));
  }

  /** What the token API needs; the same keys and revocation list as the MQTT logins. */
  tokenApiDeps(): TokenApiDeps {
    return { instanceId: this.cfg.instanceId!, secretOf: this.secretOf, revocations: this.revocations, now: nowSeconds };
  }

  /** Failed token API signatures count against the same per-address budget as failed logins. */
  get failureLimiter(): FailureLimiter {
    return this.limiter;
  }

  private readonly secretOf = (accessKeyId: string): string | undefined => this.keys?.secretOf(accessKeyId);
  private readonly isRevoked = (tokenId: string): boolean => this.revocations.isRevoked(tokenId);

  get enabled(): boolean {
    return this.cfg.mode !== 'None';
  }

  async start(): Promise<void> {
    if (!this.keys) return;
    await this.keys.load();
    this.keys.watch(this.cfg.reloadPollMs, (result) => this.metrics.accessKeyReloads.inc({ result }));
    if (this.acceptsTokens) await this.revocations.start();
  }

  async stop(): Promise<void> {
    this.keys?.stop();
    if (this.acceptsTokens) await this.revocations.stop();
  }

  get acceptsTokens(): boolean {
    return this.cfg.mode === 'Token' || this.cfg.mode === 'SignatureOrToken';
  }

  /** False while the revocation list was never read: token logins are refused until then. */
  get revocationsKnown(): boolean {
    return !this.acceptsTokens || this.revocations.synced;
  }

  /** aedes' authenticate hook. */
  authenticate(client: Client, username: string | undefined, password: Buffer | undefined, done: (err: AuthenticateError | null, ok: boolean | null) => void): void {
    // Only auth needs the peer address (a system call per connection): not read otherwise.
    const source = this.enabled ? sourceAddress(client) : 'unknown';
    if (this.enabled && this.limiter.blocked(source)) {
      return this.refuse(client, done, 5, 'rate_limited', `too many failed logins from ${source}`);
    }
    if (this.enabled && !this.revocationsKnown && username?.startsWith('Token|')) {
      return this.refuse(client, done, 3, 'revocations_unavailable', 'the token revocation list could not be read yet');
    }
    const outcome = authenticate(this.cfg, this.secretOf, client.id, username, password, nowSeconds(), this.isRevoked);
    if (!outcome.ok) {
      this.limiter.fail(source);
      // Slows down guessing a little more; legitimate clients rarely fail.
      setTimeout(() => this.refuse(client, done, outcome.returnCode, outcome.reason, outcome.detail), 200).unref();
      return;
    }
    this.setSession(client, outcome.session);
    this.metrics.authSuccesses.inc({ mode: outcome.session.mode });
    done(null, true);
  }

  private refuse(client: Client, done: (err: AuthenticateError | null, ok: boolean | null) => void, code: 2 | 3 | 4 | 5, reason: string, detail: string) {
    this.metrics.authFailures.inc({ reason });
    this.log.warn({ clientId: client.id, source: sourceAddress(client), reason, detail }, 'CONNECT refused');
    done(Object.assign(new Error(reason), { returnCode: code }), false);
  }

  /** A PUBLISH the client's tokens do not allow; undefined when allowed. */
  publishRefusal(client: Client | null, topic: string): string | undefined {
    const rights = client && this.sessions.get(client)?.rights;
    if (!rights || rights.canPublish(topic)) return undefined;
    return `no W token covers ${topic}`;
  }

  isRenewal(packet: PublishPacket): boolean {
    return this.enabled && packet.topic === TOKEN_RENEWAL_TOPIC;
  }

  /** `$SYS/uploadToken`: PUBACK (done(null)) only for a valid token; else the client is disconnected. */
  renew(client: Client | null, packet: PublishPacket, done: (err?: Error | null) => void): void {
    const session = client && this.sessions.get(client);
    if (!client || !session) return done(new Error('no session'));
    const payload = typeof packet.payload === 'string' ? Buffer.from(packet.payload) : packet.payload;
    const result = renewSession(session, payload, this.secretOf, nowSeconds(), this.isRevoked);
    if (!result.ok) {
      this.metrics.authFailures.inc({ reason: `upload_${result.reason}` });
      this.log.warn({ clientId: client.id, reason: result.reason, detail: result.detail }, 'token upload refused; disconnecting client');
      return done(new Error(result.reason));
    }
    this.setSession(client, result.session);
    this.log.info({ clientId: client.id, expiresAt: result.session.expiresAt }, 'token renewed');
    // Answered with PUBACK; nobody receives it, since no client may subscribe to $ topics.
    done(null);
  }

  canSubscribe(client: Client, filter: string): boolean {
    if (isOwnP2PInbox(client.id, filter)) return true;
    const rights = this.sessions.get(client)?.rights;
    return !rights || rights.canSubscribe(filter);
  }

  forget(client: Client): void {
    clearTimeout(this.expiry.get(client));
    this.unindex(client);
  }

  private setSession(client: Client, session: Session): void {
    this.unindex(client);
    this.sessions.set(client, session);
    for (const { id } of session.tokens) {
      const clients = this.byTokenId.get(id) ?? new Set<Client>();
      this.byTokenId.set(id, clients.add(client));
    }
    clearTimeout(this.expiry.get(client));
    if (session.expiresAt === undefined) return;
    const ms = Math.max(0, session.expiresAt * 1000 - Date.now());
    // setTimeout holds at most ~24.8 days; tokens live up to 30, so re-arm in steps.
    const timer = setTimeout(() => this.expire(client), Math.min(ms, 2 ** 31 - 1));
    timer.unref();
    this.expiry.set(client, timer);
  }

  private unindex(client: Client): void {
    for (const { id } of this.sessions.get(client)?.tokens ?? []) {
      const clients = this.byTokenId.get(id);
      clients?.delete(client);
      if (clients?.size === 0) this.byTokenId.delete(id);
    }
  }

  /** A token was revoked (here or on another pod): its clients must log in again. */
  private disconnectRevoked(tokenId: string): void {
    for (const client of this.byTokenId.get(tokenId) ?? []) {
      if (client.closed) continue;
      this.metrics.authFailures.inc({ reason: 'token_revoked_while_connected' });
      this.log.info({ clientId: client.id, tokenId }, 'token revoked; disconnecting client');
      client.close();
    }
    this.byTokenId.delete(tokenId);
  }

  private expire(client: Client): void {
    const session = this.sessions.get(client);
    if (!session || client.closed) return;
    if ((session.expiresAt ?? 0) * 1000 > Date.now()) return this.setSession(client, session);
    this.metrics.authFailures.inc({ reason: 'token_expired_while_connected' });
    this.log.info({ clientId: client.id }, 'token expired without renewal; disconnecting client');
    client.close();
  }
}

function sourceAddress(client: Client): string {
  const c = client as unknown as { conn?: { remoteAddress?: string }; req?: { socket?: { remoteAddress?: string } } };
  return c.conn?.remoteAddress ?? c.req?.socket?.remoteAddress ?? 'unknown';
}
