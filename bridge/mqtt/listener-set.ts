/**
 * Every socket a bridge listens on for devices, and the TLS material they share: MQTT over TCP,
 * TLS, WebSocket and secure WebSocket, and the token API. One owner, so a certificate renewal
 * reaches every TLS listener, a start that fails half-way closes what it had opened, and a stop
 * closes them all.
 */
import type { AddressInfo, Server } from 'node:net';
import type { Server as HttpServer } from 'node:http';
import type { SecureContextOptions, Server as TlsServer } from 'node:tls';
import { tokenApiEnabled, tokenApiUsesTls, type BridgeConfig } from '../config/schema.js';
import type { Logger } from '../observability/log.js';
import type { BridgeMetrics } from '../observability/metrics.js';
import { closeServer, listenTcp, listenTls, listenWs, listenWss, type ListenerContext } from './listeners.js';
import { TlsMaterial } from './tls-material.js';

export type ListenerName = 'tcp' | 'tls' | 'ws' | 'wss' | 'tokenApi';
type Listening = Server | HttpServer;

export interface ListenerSetOptions {
  context: ListenerContext;
  config: Pick<BridgeConfig, 'mqtt' | 'tls' | 'websocket' | 'auth'>;
  /** Starts the token API (HTTPS with `secure`); called only when the config enables it. */
  startTokenApi: (secure: SecureContextOptions | undefined) => Promise<Listening>;
  metrics: BridgeMetrics;
  log: Logger;
}

export class ListenerSet {
  private constructor(
    private readonly servers: ReadonlyMap<ListenerName, Listening>,
    private readonly tls: TlsMaterial | undefined,
  ) {}

  /** Opens every listener the config enables; if one cannot listen, the others are closed again. */
  static async open(o: ListenerSetOptions): Promise<ListenerSet> {
    const servers = new Map<ListenerName, Listening>();
    const tls = needsCertificate(o.config) ? new TlsMaterial(certificateFiles(o.config), o.log) : undefined;
    try {
      const secure = tls ? await tls.load() : undefined;
      tls?.watch(o.config.tls.reloadPollMs, (result) => o.metrics.tlsReloads.inc({ result }));
      await openAll(o, servers, tls, secure);
      return new ListenerSet(servers, tls);
    } catch (err) {
      tls?.stop();
      await Promise.all([...servers.values()].map((s) => closeServer(s)));
      throw err;
    }
  }

  /** The bound port (useful with port 0), or 0 when that listener is not enabled. */
  portOf(name: ListenerName): number {
    return (this.servers.get(name)?.address() as AddressInfo | null)?.port ?? 0;
  }

  /** The MQTT listeners' ports by name, for the start-up log line. */
  ports(): Record<string, number> {
    return Object.fromEntries([...this.servers.keys()].map((name) => [name, this.portOf(name)]));
  }

  /** Whether the plain MQTT listener, which every bridge has, takes connections. */
  get listening(): boolean {
    return this.servers.get('tcp')?.listening === true;
  }

  /** Stops taking connections and following certificate files; resolves once every listener is closed. */
  close(): Promise<void> {
    this.tls?.stop();
    return Promise.all([...this.servers.values()].map((s) => closeServer(s))).then(() => undefined);
  }
}

async function openAll(o: ListenerSetOptions, servers: Map<ListenerName, Listening>, tls: TlsMaterial | undefined, secure: SecureContextOptions | undefined): Promise<void> {
  const { context, config } = o;
  const { mqtt, websocket } = config;
  servers.set('tcp', await listenTcp(context, mqtt.host, mqtt.port));
  if (config.tls.enabled && tls && secure) {
    const listener = await listenTls(context, config.tls.host, config.tls.port, secure, config.tls.clientAuth);
    tls.onChange(listener.update);
    servers.set('tls', listener.server);
  }
  if (websocket.enabled) servers.set('ws', await listenWs(context, websocket.host, websocket.port, websocket.path));
  if (tokenApiEnabled(config)) {
    const over = tokenApiUsesTls(config) ? tls : undefined;
    const server = await o.startTokenApi(over ? secure : undefined);
    if (over) over.onChange((next) => (server as unknown as TlsServer).setSecureContext(next));
    servers.set('tokenApi', server);
  }
  if (websocket.enabled && websocket.securePort !== undefined && tls && secure) {
    const listener = await listenWss(context, websocket.host, websocket.securePort, websocket.path, secure, config.tls.clientAuth);
    tls.onChange(listener.update);
    servers.set('wss', listener.server);
  }
}

function needsCertificate(config: ListenerSetOptions['config']): boolean {
  const wantsWss = config.websocket.enabled && config.websocket.securePort !== undefined;
  return config.tls.enabled || wantsWss || (tokenApiEnabled(config) && tokenApiUsesTls(config));
}

/** The schema requires both files whenever a listener needs a certificate (config/schema.ts). */
function certificateFiles({ tls }: ListenerSetOptions['config']) {
  if (!tls.certFile || !tls.keyFile) throw new Error('tls.certFile and tls.keyFile are required by the TLS listeners');
  return { certFile: tls.certFile, keyFile: tls.keyFile, caFile: tls.caFile };
}
