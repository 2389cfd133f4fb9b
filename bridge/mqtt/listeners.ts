import { createServer as createHttpServer, type IncomingMessage, type Server as HttpServer } from 'node:http';
import { createServer as createHttpsServer } from 'node:https';
import { createServer, type Server } from 'node:net';
import { createServer as createTlsServer, type SecureContextOptions, type TlsOptions } from 'node:tls';
import type { Duplex } from 'node:stream';
import type { TLSSocket } from 'node:tls';
import type { Aedes } from 'aedes';
import { WebSocketServer, createWebSocketStream } from 'ws';
import type { ConnectPacer } from './connect-pacer.js';
import type { ConnectionLimiter } from './connection-limiter.js';

/** What every MQTT listener of a pod shares. */
export interface ListenerContext {
  aedes: Aedes;
  limiter: ConnectionLimiter;
  pacer: ConnectPacer;
  /** The largest MQTT packet accepted: a WebSocket message is never buffered beyond it. */
  maxPacketBytes: number;
  /** A client certificate that was presented but does not verify (`clientAuth: Optional`). */
  onCertificateRejected: (source: string, reason: string) => void;
}

type Listening = Server | HttpServer;

/** Hands a connection to the MQTT server when the pacer gives it its turn. */
function serve(ctx: ListenerContext, stream: Duplex, req?: IncomingMessage): void {
  ctx.pacer.admit(stream, () => ctx.aedes.handle(stream as never, req));
}

function listen<T extends Listening>(server: T, host: string, port: number): Promise<T> {
  return new Promise((resolve, reject) => {
    server.once('error', reject);
    server.listen(port, host, () => {
      server.off('error', reject);
      resolve(server);
    });
  });
}

/** MQTT over TCP. */
export function listenTcp(ctx: ListenerContext, host: string, port: number): Promise<Server> {
  const server = createServer((socket) => {
    if (socket.destroyed) return; // refused by the limiter
    socket.setNoDelay(true);
    serve(ctx, socket);
  });
  ctx.limiter.guard(server);
  return listen(server, host, port);
}

export type ClientAuth = 'None' | 'Optional' | 'Require';

function tlsOptions(ctx: SecureContextOptions, clientAuth: ClientAuth): TlsOptions {
  return { ...ctx, requestCert: clientAuth !== 'None', rejectUnauthorized: clientAuth === 'Require' };
}

/**
 * With `Optional`, Node accepts a certificate that does not verify (it only reports it): a client
 * that presents one is refused as under `Require`; only a client without any may go on.
 */
function acceptsPeerCertificate(socket: TLSSocket, clientAuth: ClientAuth, ctx: ListenerContext): boolean {
  if (clientAuth !== 'Optional' || socket.authorized) return true;
  const presented = Object.keys(socket.getPeerCertificate() ?? {}).length > 0;
  if (!presented) return true;
  ctx.onCertificateRejected(socket.remoteAddress ?? 'unknown', String(socket.authorizationError ?? 'not verified'));
  socket.destroy();
  return false;
}

/** MQTT over TLS; `update` swaps the certificate for new connections. */
export async function listenTls(ctx: ListenerContext, host: string, port: number, secure: SecureContextOptions, clientAuth: ClientAuth) {
  const server = createTlsServer(tlsOptions(secure, clientAuth), (socket) => {
    if (!acceptsPeerCertificate(socket, clientAuth, ctx)) return;
    socket.setNoDelay(true);
    serve(ctx, socket);
  });
  ctx.limiter.guard(server);
  // A failed handshake (wrong CA, expired certificate) is the client's problem, not the server's.
  server.on('tlsClientError', () => undefined);
  await listen(server, host, port);
  return { server, update: (next: SecureContextOptions) => server.setSecureContext(tlsOptions(next, clientAuth)) };
}

function attachWebSocket(ctx: ListenerContext, server: HttpServer, path: string): void {
  const wss = new WebSocketServer({
    server,
    path,
    // ws buffers up to 100 MiB of one message by default, before the packet guard sees a byte.
    maxPayload: ctx.maxPacketBytes,
    // MQTT clients ask for the "mqtt" subprotocol (older ones "mqttv3.1"); answer with it.
    handleProtocols: (protocols) => [...protocols].find((p) => p === 'mqtt' || p === 'mqttv3.1') ?? false,
  });
  wss.on('connection', (ws, req: IncomingMessage) => {
    const stream = createWebSocketStream(ws);
    stream.on('error', () => stream.destroy());
    serve(ctx, stream, req);
  });
  wss.on('error', () => undefined);
}

/** MQTT over WebSocket at `path` (default /mqtt), for browsers. */
export function listenWs(ctx: ListenerContext, host: string, port: number, path: string): Promise<HttpServer> {
  const server = createHttpServer((_req, res) => res.writeHead(426, { upgrade: 'websocket' }).end('MQTT over WebSocket: connect with ws://\n'));
  ctx.limiter.guard(server);
  attachWebSocket(ctx, server, path);
  return listen(server, host, port);
}

/** MQTT over secure WebSocket. */
export async function listenWss(ctx: ListenerContext, host: string, port: number, path: string, secure: SecureContextOptions, clientAuth: ClientAuth) {
  const server = createHttpsServer(tlsOptions(secure, clientAuth), (_req, res) => res.writeHead(426, { upgrade: 'websocket' }).end());
  ctx.limiter.guard(server);
  server.on('secureConnection', (socket: TLSSocket) => acceptsPeerCertificate(socket, clientAuth, ctx));
  server.on('tlsClientError', () => undefined);
  attachWebSocket(ctx, server, path);
  await listen(server, host, port);
  return { server, update: (next: SecureContextOptions) => server.setSecureContext(tlsOptions(next, clientAuth)) };
}

export function closeServer(server: Listening | undefined): Promise<void> {
  return new Promise((resolve) => (server ? server.close(() => resolve()) : resolve()));
}
