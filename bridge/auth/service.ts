import { randomBytes } from 'node:crypto';
import type { Client, PublishPacket } from 'aedes';
import type { ClientAccess } from '../mqtt/delivery-policy.js';
import { sourceAddressOf } from '../mqtt/aedes-internals.js';
import type { Logger } from '../observability/log.js';
import type { BridgeMetrics } from '../observability/metrics.js';
import { AccessKeyStore } from './access-keys.js';
import { authenticate, mayTakeOver, renewSession, type AuthConfig, type Session } from './authenticator.js';
import { FailureLimiter } from './failure-limiter.js';
import { isOwnP2PInbox } from '../mapping/p2p.js';
import type { RevocationList } from './revocations.js';
import { newEpoch, type ClaimResult, type SessionClaims } from './session-claims.js';
import type { TokenApiDeps } from './token-api.js';
import { TOKEN_RENEWAL_TOPIC } from './token.js';

type AuthenticateError = Error & { returnCode: 1 | 2 | 3 | 4 | 5 };
type AuthenticateDone = (err: AuthenticateError | null, ok: boolean | null) => void;
const nowSeconds = () => Math.floor(Date.now() / 1000);
const EVERYTHING: ClientAccess = { ownsClientId: true, mayReceive: () => true };
const NOTHING: ClientAccess = { ownsClientId: false, mayReceive: () => false };

export interface AuthDeps {
  revocations: RevocationList;
  claims: SessionClaims;
  /** The client connected to this pod under an id, if any. */
  connectedClient: (clientId: string) => Client | undefined;
  /** Whether the claims live in a store that may be away (Redis); then clean sessions connect without it. */
  claimsMayBeAway: boolean;
}

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
  /** Per connection: its id (for the session claim), its session's epoch (for message keys), whether its claim was let go. */
  private readonly connections = new WeakMap<Client, { id: string; epoch: string; released: boolean }>();
  /** Connected clients by the ids of the tokens they use, to disconnect them on revocation. */
  private readonly byTokenId = new Map<string, Set<Client>>();

  private readonly revocations: RevocationList;

  constructor(
    private readonly cfg: AuthConfig,
    private readonly metrics: BridgeMetrics,
    private readonly log: Logger,
    private readonly deps: AuthDeps,
  ) {
    this.revocations = deps.revocations;
    this.keys = cfg.mode === 'None' ? undefined : new AccessKeyStore(cfg.accessKeysDir!, log);
    this.limiter = new FailureLimiter(cfg.maxFailuresPerMinute);
    this.revocations.onRevoked((id) => this.disconnectRevoked(id));
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

  /**
   * aedes' authenticate hook. Credentials are always checked: a source over its failure budget is
   * refused only for failing logins, so one bad device behind a NAT locks out nobody else.
   */
  authenticate(
    client: Client,
    username: string | undefined,
    password: Buffer | undefined,
    done: AuthenticateDone,
    vet: (session: Session) => { reason: string; detail: string } | undefined = () => undefined,
  ): void {
    // Only auth needs the peer address (a system call per connection): not read otherwise.
    const source = this.enabled ? sourceAddressOf(client) : 'unknown';
    if (this.enabled && !this.revocationsKnown && username?.startsWith('Token|')) {
      return this.refuse(client, done, 3, 'revocations_unavailable', 'the token revocation list could not be read yet');
    }
    const outcome = authenticate(this.cfg, this.secretOf, client.id, username, password, nowSeconds(), this.isRevoked);
    if (!outcome.ok) {
      // Over budget means perMinute failures *before* this one: those got their real reason.
      const limited = this.limiter.blocked(source);
      this.limiter.fail(source);
      // Slows down guessing a little more; legitimate clients rarely fail.
      setTimeout(() => {
        if (limited) this.refuse(client, done, 5, 'rate_limited', `too many failed logins from ${source}; last: ${outcome.reason}`);
        else this.refuse(client, done, outcome.returnCode, outcome.reason, outcome.detail);
      }, 200).unref();
      return;
    }
    // What else the CONNECT asks for (a will) is judged with the rights of this login, before it holds the session.
    const refusal = vet(outcome.session);
    if (refusal) return this.refuse(client, done, 5, refusal.reason, refusal.detail);
    void this.claim(client, outcome.session, done);
  }

  /** Holds the client id's session for this login, unless another credential holds it. */
  private async claim(client: Client, session: Session, done: AuthenticateDone): Promise<void> {
    // Not randomUUID(): Node builds it from 20 concatenated pieces that V8 keeps as a rope (~450 bytes).
    const connection = randomBytes(12).toString('base64url');
    let result: ClaimResult;
    try {
      result = await this.deps.claims.claim(client.id, { credential: session.credential, persistent: !client.clean, connection });
    } catch (err) {
      if (!client.clean || !this.deps.claimsMayBeAway) {
        return this.refuse(client, done, 3, 'session_store_unavailable', `the session of ${client.id} cannot be claimed: ${(err as Error).message}`);
      }
      // A clean session connects while Redis is away; only this pod's own clients can be checked.
      this.metrics.sessionStoreDegraded.inc({ operation: 'session_claim' });
      result = this.localClaim(client.id, session);
    }
    if (!result.ok) {
      return this.refuse(client, done, 5, 'session_held_by_other_credential', `${client.id} is held by another credential (${result.holder})`);
    }
    this.connections.set(client, { id: connection, epoch: result.epoch, released: false });
    // A connection may end between its CONNECT and its registration (aedes then reports no
    // disconnect), even while the claim was being written: its claim must end with it all the same.
    if (client.closed || client.conn.destroyed) {
      this.forget(client);
      return done(Object.assign(new Error('connection closed during CONNECT'), { returnCode: 3 as const }), false);
    }
    client.conn.once('close', () => this.forget(client));
    this.setSession(client, session);
    this.metrics.authSuccesses.inc({ mode: session.mode });
    done(null, true);
  }

  private localClaim(clientId: string, session: Session): ClaimResult {
    const current = this.deps.connectedClient(clientId);
    const holder = current && this.sessions.get(current)?.credential;
    if (holder !== undefined && this.cfg.sessionTakeover !== 'Any' && !mayTakeOver(holder, session.credential)) return { ok: false, holder };
    return { ok: true, epoch: newEpoch() };
  }

  private refuse(client: Client, done: AuthenticateDone, code: 2 | 3 | 4 | 5, reason: string, detail: string) {
    this.metrics.authFailures.inc({ reason });
    this.log.warn({ clientId: client.id, source: sourceAddressOf(client), reason, detail }, 'CONNECT refused');
    done(Object.assign(new Error(reason), { returnCode: code }), false);
  }

  /** What the client may receive, for every delivery to it. Without a session (never authenticated): nothing. */
  accessOf(client: Client): ClientAccess {
    const session = this.sessions.get(client);
    if (!session) return this.enabled ? NOTHING : EVERYTHING;
    const rights = session.rights;
    if (!rights) return EVERYTHING; // auth off or a Signature: no token rights to check
    return { ownsClientId: session.ownsClientId, mayReceive: (topic) => rights.canReceive(topic) };
  }

  /** Names the client's session in message keys: `<clientId>:<epoch>:<packetId>` stays the same across a resumed session. */
  sessionEpochOf(client: Client): string | undefined {
    return this.connections.get(client)?.epoch;
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
    const result = renewSession(this.cfg, client.id, session, payload, this.secretOf, nowSeconds(), this.isRevoked);
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

  /** The connection closed: its timers and index entries go, and a clean session's claim with it. Idempotent. */
  forget(client: Client): void {
    clearTimeout(this.expiry.get(client));
    this.unindex(client);
    const connection = this.connections.get(client);
    if (!connection || connection.released) return;
    connection.released = true;
    this.deps.claims.released(client.id, connection.id, !client.clean).catch((err: Error) => {
      this.metrics.sessionStoreDegraded.inc({ operation: 'session_release' });
      this.log.debug({ clientId: client.id, err: err.message }, 'session claim not released');
    });
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
