import { createServer as createHttpServer, type IncomingMessage, type Server as HttpServer } from 'node:http';
import { createServer as createHttpsServer } from 'node:https';
import { createServer, type Server } from 'node:net';
import { createServer as createTlsServer, type SecureContextOptions, type TlsOptions } from 'node:tls';
import type { Duplex } from 'node:stream';
import type { Aedes } from 'aedes';
import { WebSocketServer, createWebSocketStream } from 'ws';

type Listening = Server | HttpServer;

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
export function listenTcp(aedes: Aedes, host: string, port: number): Promise<Server> {
  const server = createServer((socket) => {
    socket.setNoDelay(true);
    aedes.handle(socket);
  });
  return listen(server, host, port);
}

export type ClientAuth = 'None' | 'Optional' | 'Require';

function tlsOptions(ctx: SecureContextOptions, clientAuth: ClientAuth): TlsOptions {
  return { ...ctx, requestCert: clientAuth !== 'None', rejectUnauthorized: clientAuth === 'Require' };
}

/** MQTT over TLS; `update` swaps the certificate for new connections. */
export async function listenTls(aedes: Aedes, host: string, port: number, ctx: SecureContextOptions, clientAuth: ClientAuth) {
  const server = createTlsServer(tlsOptions(ctx, clientAuth), (socket) => {
    socket.setNoDelay(true);
    aedes.handle(socket);
  });
  // A failed handshake (wrong CA, expired certificate) is the client's problem, not the server's.
  server.on('tlsClientError', () => undefined);
  await listen(server, host, port);
  return { server, update: (next: SecureContextOptions) => server.setSecureContext(tlsOptions(next, clientAuth)) };
}

function attachWebSocket(aedes: Aedes, server: HttpServer, path: string): void {
  const wss = new WebSocketServer({
    server,
    path,
    // MQTT clients ask for the "mqtt" subprotocol (older ones "mqttv3.1"); answer with it.
    handleProtocols: (protocols) => [...protocols].find((p) => p === 'mqtt' || p === 'mqttv3.1') ?? false,
  });
  wss.on('connection', (ws, req: IncomingMessage) => {
    const stream = createWebSocketStream(ws);
    stream.on('error', () => stream.destroy());
    aedes.handle(stream as Duplex as never, req);
  });
  wss.on('error', () => undefined);
}

/** MQTT over WebSocket at `path` (default /mqtt), for browsers. */
export function listenWs(aedes: Aedes, host: string, port: number, path: string): Promise<HttpServer> {
  const server = createHttpServer((_req, res) => res.writeHead(426, { upgrade: 'websocket' }).end('MQTT over WebSocket: connect with ws://\n'));
  attachWebSocket(aedes, server, path);
  return listen(server, host, port);
}

/** MQTT over secure WebSocket. */
export async function listenWss(aedes: Aedes, host: string, port: number, path: string, ctx: SecureContextOptions, clientAuth: ClientAuth) {
  const server = createHttpsServer(tlsOptions(ctx, clientAuth), (_req, res) => res.writeHead(426, { upgrade: 'websocket' }).end());
  server.on('tlsClientError', () => undefined);
  attachWebSocket(aedes, server, path);
  await listen(server, host, port);
  return { server, update: (next: SecureContextOptions) => server.setSecureContext(tlsOptions(next, clientAuth)) };
}

export function closeServer(server: Listening | undefined): Promise<void> {
  return new Promise((resolve) => (server ? server.close(() => resolve()) : resolve()));
}
