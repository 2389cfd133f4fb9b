import type { Client, PublishPacket } from 'aedes';
import type { Logger } from '../observability/log.js';
import type { BridgeMetrics } from '../observability/metrics.js';
import { AccessKeyStore } from './access-keys.js';
import { authenticate, renewSession, type AuthConfig, type Session } from './authenticator.js';
import { FailureLimiter } from './failure-limiter.js';
import { isOwnP2PInbox } from './resources.js';
import { TOKEN_RENEWAL_TOPIC } from './token.js';

type AuthenticateError = Error & { returnCode: 1 | 2 | 3 | 4 | 5 };

/**
 * Device authentication and authorization for the embedded MQTT server: checks CONNECTs,
 * keeps what each connection may do, takes token renewals on `$SYS/uploadToken`, and
 * disconnects a Token-mode client when its tokens expire without renewal.
 */
export class AuthService {
  private readonly keys: AccessKeyStore | undefined;
  private readonly limiter: FailureLimiter;
  private readonly sessions = new WeakMap<Client, Session>();
  private readonly expiry = new WeakMap<Client, NodeJS.Timeout>();

  constructor(
    private readonly cfg: AuthConfig,
    private readonly metrics: BridgeMetrics,
    private readonly log: Logger,
  ) {
    this.keys = cfg.mode === 'None' ? undefined : new AccessKeyStore(cfg.accessKeysDir!, log);
    this.limiter = new FailureLimiter(cfg.maxFailuresPerMinute);
  }

  get enabled(): boolean {
    return this.cfg.mode !== 'None';
  }

  async start(): Promise<void> {
    if (!this.keys) return;
    await this.keys.load();
    this.keys.watch(this.cfg.reloadPollMs, (result) => this.metrics.accessKeyReloads.inc({ result }));
  }

  stop(): void {
    this.keys?.stop();
  }

  /** aedes' authenticate hook. */
  authenticate(client: Client, username: string | undefined, password: Buffer | undefined, done: (err: AuthenticateError | null, ok: boolean | null) => void): void {
    const source = sourceAddress(client);
    if (this.enabled && this.limiter.blocked(source)) {
      return this.refuse(client, done, 5, 'rate_limited', `too many failed logins from ${source}`);
    }
    const secretOf = this.keys?.secretOf ?? (() => undefined);
    const outcome = authenticate(this.cfg, secretOf, client.id, username, password);
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

  private refuse(client: Client, done: (err: AuthenticateError | null, ok: boolean | null) => void, code: 2 | 4 | 5, reason: string, detail: string) {
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
    const result = renewSession(session, payload, this.keys?.secretOf ?? (() => undefined));
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
  }

  private setSession(client: Client, session: Session): void {
    this.sessions.set(client, session);
    clearTimeout(this.expiry.get(client));
    if (session.expiresAt === undefined) return;
    const ms = Math.max(0, session.expiresAt * 1000 - Date.now());
    // setTimeout holds at most ~24.8 days; tokens live up to 30, so re-arm in steps.
    const timer = setTimeout(() => this.expire(client), Math.min(ms, 2 ** 31 - 1));
    timer.unref();
    this.expiry.set(client, timer);
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
