/**
 * QoS 2 packet ids a client's PUBLISHes were stored under, so a DUP retransmission of one
 * (the client did not see our PUBREC, or reconnected with its session) is not sent to
 * RocketMQ a second time. A client reuses an id only after PUBCOMP, so a new, non-DUP
 * PUBLISH with that id replaces it. Per client the most recent `limit` ids are kept.
 */
export class Qos2Ids {
  private readonly byClient = new Map<string, Set<number>>();

  constructor(private readonly limit = 1000) {}

  stored(clientId: string, messageId: number): void {
    let ids = this.byClient.get(clientId);
    if (!ids) this.byClient.set(clientId, (ids = new Set()));
    ids.delete(messageId);
    ids.add(messageId);
    if (ids.size > this.limit) ids.delete(ids.values().next().value!);
  }

  has(clientId: string, messageId: number): boolean {
    return this.byClient.get(clientId)?.has(messageId) ?? false;
  }

  /** A clean session ended: its ids can never be retransmitted. */
  forget(clientId: string): void {
    this.byClient.delete(clientId);
  }
}
