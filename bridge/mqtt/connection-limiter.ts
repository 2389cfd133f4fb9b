import type { Server } from 'node:net';
import type { RefusalReason } from '../mapping/refusals.js';

export interface ConnectionLimits {
  /** Sockets one pod holds at most, over all its MQTT listeners. */
  maxConnections: number;
  /** Sockets from one source address at most; 0: no limit. */
  maxConnectionsPerSource: number;
}

/**
 * Counts the sockets of every MQTT listener of a pod, from the moment they are accepted (before
 * a TLS handshake or a CONNECT costs anything), and closes one at once when it would pass a
 * limit. A socket's file descriptor is what runs out first, so sockets are counted, not clients.
 */
export class ConnectionLimiter {
  private total = 0;
  private readonly bySource = new Map<string, number>();

  constructor(
    private readonly limits: ConnectionLimits,
    private readonly onRefused: (reason: RefusalReason, source: string, connections: number) => void,
  ) {}

  get connections(): number {
    return this.total;
  }

  /** Applies the limits to every connection `server` accepts; call before the server's own handler sees them. */
  guard(server: Server): void {
    server.prependListener('connection', (socket) => {
      // The peer address is a system call and an object per socket: read only when a limit needs it.
      const source = this.limits.maxConnectionsPerSource > 0 ? (socket.remoteAddress ?? 'unknown') : undefined;
      const refusal = this.admit(source);
      if (refusal) {
        socket.destroy();
        this.onRefused(refusal, source ?? socket.remoteAddress ?? 'unknown', this.total);
        return;
      }
      socket.once('close', () => this.release(source));
    });
  }

  /** Counts a new socket from `source` (undefined: no per-source limit applies), or says which limit it would pass. */
  admit(source: string | undefined): RefusalReason | undefined {
    if (this.total >= this.limits.maxConnections) return 'too_many_connections';
    if (source === undefined || this.limits.maxConnectionsPerSource <= 0) {
      this.total++;
      return undefined;
    }
    const fromSource = this.bySource.get(source) ?? 0;
    if (fromSource >= this.limits.maxConnectionsPerSource) return 'too_many_connections_from_source';
    this.total++;
    this.bySource.set(source, fromSource + 1);
    return undefined;
  }

  release(source: string | undefined): void {
    this.total--;
    if (source === undefined) return;
    const fromSource = this.bySource.get(source);
    if (fromSource === undefined) return;
    if (fromSource <= 1) this.bySource.delete(source);
    else this.bySource.set(source, fromSource - 1);
  }
}
