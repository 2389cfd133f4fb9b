/**
 * The one place where mqbridge reaches past aedes' documented API. aedes has no hook for what
 * is done here (a packet before its handler runs, the parser's length step, the map of
 * connected clients, the emitter, the will of a connecting client), so these members are used
 * directly. The version is pinned in package.json, and {@link checkAedesInternals} verifies at
 * start-up that every member is where this module expects it, so an upgrade that moves one
 * fails the start of a bridge instead of a security check at run time.
 */
import type { EventEmitter } from 'node:events';
import type { Aedes, AedesPublishPacket, Client } from 'aedes';

/** The aedes release this module was written against (package.json pins it). */
export const PINNED_AEDES_VERSION = '1.2.0';

/** A packet as mqtt-packet's parser hands it over; only what the bridge looks at. */
export interface ParsedPacket {
  cmd: string;
  messageId?: number;
  subscriptions?: { topic: string; qos: number }[];
}

/** mqtt-packet's parser of one connection, as aedes keeps it. */
export interface ParserInternals {
  packet: { length: number; cmd?: string };
  _parseLength(): boolean;
  emit(event: 'error', err: Error): boolean;
  prependListener(event: 'packet', listener: (packet: ParsedPacket) => void): unknown;
  listenerCount(event: string): number;
}

export interface WillPacket {
  topic: string;
  payload: Buffer | string;
  qos: 0 | 1 | 2;
  retain: boolean;
}

interface ClientInternals {
  _parser: ParserInternals;
  /** The client's live subscriptions by filter. */
  subscriptions: Record<string, unknown>;
  /** The will of the CONNECT being authenticated (aedes moves it to `will` afterwards). */
  _will: WillPacket | null | undefined;
  conn?: { remoteAddress?: string };
  req?: { socket?: { remoteAddress?: string } };
}

/** The emitter aedes routes every publish through (mqemitter, or the bridge's Redis emitter). */
export interface BrokerEmitter {
  on(topic: string, listener: (packet: AedesPublishPacket, done: () => void) => void): unknown;
}

type PublishCallback = (err?: Error) => void;

interface BrokerInternals {
  version: string;
  clients: Record<string, Client | undefined>;
  mq: BrokerEmitter;
  publish(packet: AedesPublishPacket, client?: Client | PublishCallback | null, done?: PublishCallback): void;
  registerClient(client: Client): void;
}

const internals = (aedes: Aedes) => aedes as unknown as BrokerInternals;
const clientInternals = (client: Client) => client as unknown as ClientInternals;

/** Throws, naming what is missing, unless this aedes has every member this module uses. */
export function checkAedesInternals(aedes: Aedes, probe: Client | undefined): void {
  const broker = internals(aedes);
  const problems: string[] = [];
  if (broker.version !== PINNED_AEDES_VERSION) problems.push(`aedes ${broker.version} is not the pinned ${PINNED_AEDES_VERSION}`);
  if (typeof broker.clients !== 'object' || broker.clients === null) problems.push('aedes.clients is missing');
  if (typeof broker.mq?.on !== 'function') problems.push('aedes.mq is missing');
  if (typeof broker.publish !== 'function') problems.push('aedes.publish is missing');
  if (typeof broker.registerClient !== 'function') problems.push('aedes.registerClient is missing');
  if (probe) {
    const c = clientInternals(probe);
    if (typeof c._parser?._parseLength !== 'function' || typeof c._parser?.prependListener !== 'function') problems.push('client._parser is not an mqtt-packet parser');
    if (typeof c.subscriptions !== 'object' || c.subscriptions === null) problems.push('client.subscriptions is missing');
    if (!('_will' in c)) problems.push('client._will is missing');
    const d = probe as unknown as Partial<DeliveryInternals>;
    if (typeof d.deliver0 !== 'function' || typeof d.deliverQoS !== 'function' || typeof d.connackSent !== 'boolean') problems.push('client.deliver0/deliverQoS/connackSent are missing');
  }
  if (problems.length > 0) throw new Error(`unsupported aedes: ${problems.join('; ')}`);
}

export function parserOf(client: Client): ParserInternals {
  return clientInternals(client)._parser;
}

/** Runs `listener` for every packet of this connection before aedes handles it. */
export function beforeEachPacket(client: Client, listener: (packet: ParsedPacket) => void): void {
  parserOf(client).prependListener('packet', listener);
}

/** The client connected to this aedes under `clientId`, if any. */
export function connectedClient(aedes: Aedes, clientId: string): Client | undefined {
  return internals(aedes).clients[clientId];
}

export function emitterOf(aedes: Aedes): BrokerEmitter {
  return internals(aedes).mq;
}

/** The filters the client has in force (restored ones included) that `counts` picks. */
export function heldFilters(client: Client, counts: (filter: string) => boolean): Set<string> {
  return new Set(Object.keys(clientInternals(client).subscriptions).filter(counts));
}

/** Whether the client has a listener for exactly this filter (subscribed, or restored with its session). */
export function holdsFilter(client: Client, filter: string): boolean {
  return Object.hasOwn(clientInternals(client).subscriptions, filter);
}

/** The will of a CONNECT while it is being authenticated. */
export function willOf(client: Client): WillPacket | undefined {
  return clientInternals(client)._will ?? undefined;
}

export function sourceAddressOf(client: Client): string {
  const c = clientInternals(client);
  return c.conn?.remoteAddress ?? c.req?.socket?.remoteAddress ?? 'unknown';
}

/**
 * Publishes that `drop` picks are acknowledged to their sender as aedes would, but go nowhere:
 * no subscriber, no other pod, no offline queue. aedes passes every accepted PUBLISH of a client
 * on through `publish`, and has no option to stop one after `authorizePublish` accepted it.
 */
export function dropClientPublishes(aedes: Aedes, drop: (packet: AedesPublishPacket, client: Client) => boolean): void {
  const broker = internals(aedes);
  const publish = broker.publish.bind(aedes);
  broker.publish = (packet, client, done) => {
    if (client && typeof client === 'object' && drop(packet, client)) return done?.();
    publish(packet, client, done);
  };
}

type Deliver = (packet: AedesPublishPacket, done: () => void) => void;
interface DeliveryInternals {
  deliver0: Deliver;
  deliverQoS: Deliver;
  connackSent: boolean;
  conn: Pick<EventEmitter, 'once' | 'removeListener'>;
}

/**
 * Delivers to a persistent session a packet its offline queue already holds, as a subscription
 * of the client would (the queued copy is what its PUBACK clears). aedes' `client.publish`
 * queues the packet once more first.
 */
export function deliverQueued(client: Client, packet: AedesPublishPacket, done: () => void): void {
  const c = client as unknown as DeliveryInternals;
  if (packet.qos === 0) c.deliver0(packet, done);
  else c.deliverQoS(packet, done);
}

/**
 * A restored session's subscriptions are in force before its CONNACK is written (aedes restores
 * them, then stores the will, a Redis round trip with a shared store), so a message arriving in
 * between would be written first. The first packet to a client must be its CONNACK
 * [MQTT-3.2.0-1]: MQTT.js waits forever on a PUBLISH before it, Paho drops the connection. So a
 * client's deliveries wait until its CONNACK is out; if the connection ends first, they are let go
 * (a persistent session still has them queued).
 */
export function holdDeliveriesUntilConnack(aedes: Aedes): (client: Client) => void {
  const release = new WeakMap<Client, () => void>();
  aedes.on('connackSent', (_packet, client) => release.get(client)?.());
  return (client) => {
    const c = client as unknown as DeliveryInternals;
    const originals = { deliver0: c.deliver0, deliverQoS: c.deliverQoS };
    // undefined once settled: a wrapper captured by a subscription made before then delivers at once.
    let held: { deliver: () => void; drop: () => void }[] | undefined = [];
    // Once the CONNACK is out (or the connection is gone) the client's own functions are put back:
    // nothing of this hook stays with an idle connection.
    const settle = (how: 'deliver' | 'drop') => {
      const pending = held ?? [];
      held = undefined;
      Object.assign(c, originals);
      release.delete(client);
      c.conn.removeListener('close', onClose);
      for (const p of pending) p[how]();
    };
    const onClose = () => settle('drop');
    release.set(client, () => settle('deliver'));
    c.conn.once('close', onClose);
    for (const name of ['deliver0', 'deliverQoS'] as const) {
      const deliver = originals[name];
      c[name] = (packet, done) => {
        if (held && !c.connackSent) held.push({ deliver: () => deliver(packet, done), drop: done });
        else deliver(packet, done);
      };
    }
  };
}

/**
 * aedes goes on with a CONNECT whose connection closed while it stored the will (a Redis round
 * trip with a shared store) and registers the closed client: it stays in `aedes.clients` with
 * no 'clientDisconnect' ever, and its `$SYS` announcement makes every other pod close the live
 * connection of that client id. In a reconnect storm that is what a device that gave up waiting
 * for its CONNACK leaves behind on a busy pod. (Closed earlier, while its subscriptions are
 * restored, the CONNECT stops there; closing took the subscriptions and the will away.) Such a
 * client is not registered, and `onSkipped` hears of it.
 */
export function skipClosedRegistrations(aedes: Aedes, onSkipped: (client: Client) => void): void {
  const broker = internals(aedes);
  const register = broker.registerClient.bind(aedes);
  broker.registerClient = (client) => (client.closed ? onSkipped(client) : register(client));
}

/** Between the dead broker's id and the client id in the broker id of a swept will: in no pod name or aedes id. */
const SWEPT_WILL_SEPARATOR = '|will|';

/**
 * A stored will ready for aedes to publish for a pod that died, under a broker id of its own.
 * aedes would publish it with the dead broker's id and a counter of the sweeping broker, and a
 * client drops a packet whose counter is not above the highest it saw from that broker id (its
 * dedupe): every subscriber that heard more from the dead pod than the sweeping pod ever
 * counted would drop the will, and so would one that got a will from another sweeping pod
 * first. An id per dead broker and client means no will is ever measured against another
 * packet; each subscriber keeps one more entry in its aedes dedupe map per will it receives.
 * aedes deletes the stored will by this id: {@link storedWillBrokerId} gives back the real one.
 */
export function sweptWill<T extends { brokerId?: string; clientId?: string }>(will: T): T {
  if (will.brokerId === undefined) return will;
  // Encoded: aedes-persistence-redis splits packet keys (`packet:<broker id>:<counter>`) at ':'.
  return { ...will, brokerId: `${will.brokerId}${SWEPT_WILL_SEPARATOR}${encodeURIComponent(will.clientId ?? '')}` };
}

/** The id of the broker that stored a will, from the broker id {@link sweptWill} gave it (others unchanged). */
export function storedWillBrokerId(brokerId: string): string {
  const end = brokerId.indexOf(SWEPT_WILL_SEPARATOR);
  return end < 0 ? brokerId : brokerId.slice(0, end);
}
