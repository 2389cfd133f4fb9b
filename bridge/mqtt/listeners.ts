import { createServer, type Server } from 'node:net';
import type { Aedes } from 'aedes';

/** Starts the MQTT/TCP listener; resolves with the bound server once it accepts. */
export function listenTcp(aedes: Aedes, host: string, port: number): Promise<Server> {
  const server = createServer((socket) => {
    socket.setNoDelay(true);
    aedes.handle(socket);
  });
  return new Promise((resolve, reject) => {
    server.once('error', reject);
    server.listen(port, host, () => {
      server.off('error', reject);
      resolve(server);
    });
  });
}

export function closeServer(server: Server | undefined): Promise<void> {
  return new Promise((resolve) => (server ? server.close(() => resolve()) : resolve()));
}
