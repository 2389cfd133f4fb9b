import { createServer, type Server } from 'node:http';
import type { Registry } from 'prom-client';
import { CONFIG_REPORT_PATH, type ConfigReport } from '../config/report.js';

export interface Readiness {
  ready: boolean;
  checks: Record<string, boolean>;
}

export interface HttpStatusSources {
  readiness(): Readiness;
  configReport(): ConfigReport;
}

/** /healthz (the process serves), /readyz (it should get traffic), /configz (the config in force) and /metrics. */
export function startHttpServer(host: string, port: number, sources: HttpStatusSources, registry: Registry): Promise<Server> {
  const server = createServer((req, res) => {
    const path = (req.url ?? '/').split('?')[0];
    if (req.method !== 'GET' && req.method !== 'HEAD') {
      res.writeHead(405, { allow: 'GET, HEAD' }).end();
    } else if (path === '/healthz') {
      res.writeHead(200, { 'content-type': 'text/plain' }).end('ok\n');
    } else if (path === '/readyz') {
      const r = sources.readiness();
      res.writeHead(r.ready ? 200 : 503, { 'content-type': 'application/json' }).end(JSON.stringify(r) + '\n');
    } else if (path === CONFIG_REPORT_PATH) {
      res.writeHead(200, { 'content-type': 'application/json' }).end(JSON.stringify(sources.configReport()) + '\n');
    } else if (path === '/metrics') {
      registry.metrics().then(
        (text) => res.writeHead(200, { 'content-type': registry.contentType }).end(text),
        (err: Error) => res.writeHead(500).end(err.message),
      );
    } else {
      res.writeHead(404, { 'content-type': 'text/plain' }).end('not found\n');
    }
  });
  return new Promise((resolve, reject) => {
    server.once('error', reject);
    server.listen(port, host, () => {
      server.off('error', reject);
      resolve(server);
    });
  });
}
