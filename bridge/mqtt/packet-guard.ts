import type { Client } from 'aedes';
import { parserOf } from './aedes-internals.js';

export class PacketTooLargeError extends Error {
  constructor(
    readonly length: number,
    readonly limit: number,
  ) {
    super(`packet of ${length} bytes exceeds the limit of ${limit} bytes`);
    this.name = 'PacketTooLargeError';
  }
}

/**
 * Refuses a packet as soon as its fixed header announces more bytes than allowed, instead of
 * buffering up to the 256 MB MQTT allows before the payload check could run. mqtt-packet has
 * no such option, so the guard wraps the length step of this connection's parser.
 */
export function guardPacketSize(client: Client, limit: number): void {
  const parser = parserOf(client);
  const parseLength = parser._parseLength.bind(parser);
  parser._parseLength = function guardedParseLength(): boolean {
    const complete = parseLength();
    if (complete && parser.packet.length > limit) {
      parser.emit('error', new PacketTooLargeError(parser.packet.length, limit));
      return false;
    }
    return complete;
  };
}
