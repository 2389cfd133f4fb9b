/**
 * The bridge's MQTT engine alone: aedes with the options bridge/mqtt/broker.ts passes
 * (client-id limit, connect timeout, P2P authorizeForward, per-connection packet-size guard,
 * the P2P inboxes of bridge/mqtt/p2p-route.ts), but no auth, no RocketMQ uplink and no
 * delivery policy or session persistence wrapper: every CONNECT/PUBLISH/SUBSCRIBE is allowed.
 * P2P reaches clean sessions only (the wrapper stores a persistent session's inbox).
 * Run as a child process: `node aedes-server.js <port>`.
 */
import { createServer } from 'node:net';
import { Aedes } from 'aedes';
import { shownTopicOf } from '../../bridge/mapping/p2p.js';
import { installP2pInboxes } from '../../bridge/mqtt/p2p-route.js';
import { guardPacketSize } from '../../bridge/mqtt/packet-guard.js';

// The bridge's defaults (bridge/config/schema.ts, bridge/bridge.ts).
const maxClientIdLength = 64;
const connectTimeoutMs = 10_000;
const maxPacketBytes = 64 * 1024 + 4 * 256 + 16;

const port = Number(process.argv[2] ?? 1883);
const aedes = await Aedes.createBroker({
  maxClientsIdLength: maxClientIdLength,
  connectTimeout: connectTimeoutMs,
  authorizeForward: (_client, packet) => {
    const shown = shownTopicOf(packet.topic);
    return shown === undefined ? packet : { ...packet, topic: shown };
  },
});
installP2pInboxes(aedes);
const server = createServer((conn) => {
  const client = aedes.handle(conn);
  guardPacketSize(client, maxPacketBytes);
});
server.listen(port, '0.0.0.0', () => process.send?.({ type: 'listening' }));
const stop = () => server.close(() => aedes.close(() => process.exit(0)));
process.on('SIGTERM', stop);
process.on('disconnect', stop);
