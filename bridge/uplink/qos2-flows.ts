/**
 * The QoS 2 PUBLISHes of the clients connected to this pod, by packet id, from the PUBLISH to
 * the PUBREL: `pending` while it is being stored in RocketMQ (or its send failed), `stored` once
 * RocketMQ has it. A DUP of a stored one is a duplicate; a DUP of a pending one must be sent.
 * A flow ends at PUBREL, and all of a client's flows when its connection does (a retransmission
 * on a later connection is recognised by the session's QoS 2 record instead). At most `limit`
 * flows per client are kept, the oldest going first.
 */
export class Qos2Flows {
  private readonly byClient = new Map<string, Map<number, 'pending' | 'stored'>>();

  constructor(private readonly limit: number) {}

  /** A PUBLISH with this id starts being stored; a new (non-DUP) one replaces whatever the id held. */
  begin(clientId: string, messageId: number): void {
    let flows = this.byClient.get(clientId);
    if (!flows) this.byClient.set(clientId, (flows = new Map()));
    flows.delete(messageId);
    flows.set(messageId, 'pending');
    if (flows.size > this.limit) flows.delete(flows.keys().next().value!);
  }

  stored(clientId: string, messageId: number): void {
    const flows = this.byClient.get(clientId);
    if (flows?.has(messageId)) flows.set(messageId, 'stored');
  }

  isStored(clientId: string, messageId: number): boolean {
    return this.byClient.get(clientId)?.get(messageId) === 'stored';
  }

  /** PUBREL: the flow is complete; the client may reuse the id. */
  released(clientId: string, messageId: number): void {
    const flows = this.byClient.get(clientId);
    flows?.delete(messageId);
    if (flows?.size === 0) this.byClient.delete(clientId);
  }

  forget(clientId: string): void {
    this.byClient.delete(clientId);
  }

  get clients(): number {
    return this.byClient.size;
  }
}
