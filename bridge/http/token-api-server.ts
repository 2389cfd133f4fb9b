import { createServer as createHttpServer, type IncomingMessage, type Server, type ServerResponse } from 'node:http';
import { createServer as createHttpsServer, type Server as HttpsServer } from 'node:https';
import type { SecureContextOptions } from 'node:tls';
import type { FailureLimiter } from '../auth/failure-limiter.js';
import type { NonceStore } from '../auth/nonces.js';
import { REQUEST_MAX_SKEW_SECONDS, verifyRequest } from '../auth/request-signature.js';
import { handleTokenApi, TOKEN_API_ACTIONS, type TokenApiAction, type TokenApiDeps, type TokenApiResponse } from '../auth/token-api.js';
import type { Logger } from '../observability/log.js';
import type { BridgeMetrics } from '../observability/metrics.js';

export const TOKEN_API_PREFIX = '/api/v1/token/';
const MAX_BODY_BYTES = 64 * 1024;

export interface TokenApiServerOptions {
  host: string;
  port: number;
  /** HTTPS with this certificate when given (the bridge's TLS certificate). */
  tls?: SecureContextOptions;
  deps: TokenApiDeps;
  /** Nonces seen in the signature window: each signed request is taken once. */
  nonces: NonceStore;
  limiter: FailureLimiter;
  metrics: BridgeMetrics;
  log: Logger;
}

class HttpError extends Error {
  constructor(readonly response: TokenApiResponse) {
    super(String(response.body.message));
  }
}

const httpError = (status: number, code: string, message: string) => new HttpError({ status, body: { code, message } });
/** One answer for every refused signature: a different one for an unknown key would tell which key ids exist. */
const unauthorized = () => httpError(401, 'Unauthorized', 'the request is not signed with a valid access key, a current timestamp and a new nonce');

/**
 * The body, up to MAX_BODY_BYTES. A larger one is answered with 413 once it has been read (and
 * dropped), so the client sees the answer instead of a reset; past 16 times the limit the
 * connection is cut instead.
 */
function readBody(req: IncomingMessage): Promise<Buffer> {
  return new Promise((resolve, reject) => {
    const chunks: Buffer[] = [];
    let size = 0;
    req.on('data', (chunk: Buffer) => {
      size += chunk.length;
      if (size <= MAX_BODY_BYTES) chunks.push(chunk);
      else if (size > 16 * MAX_BODY_BYTES) req.destroy();
    });
    req.on('end', () => {
      if (size > MAX_BODY_BYTES) reject(httpError(413, 'PayloadTooLarge', `the body is larger than ${MAX_BODY_BYTES} bytes`));
      else resolve(Buffer.concat(chunks));
    });
    req.on('error', reject);
  });
}

function actionOf(req: IncomingMessage): TokenApiAction {
  const path = (req.url ?? '/').split('?')[0]!;
  const action = path.startsWith(TOKEN_API_PREFIX) ? path.slice(TOKEN_API_PREFIX.length) : '';
  if (!TOKEN_API_ACTIONS.includes(action as TokenApiAction)) throw httpError(404, 'NotFound', `use POST ${TOKEN_API_PREFIX}{${TOKEN_API_ACTIONS.join(',')}}`);
  if (req.method !== 'POST') throw httpError(405, 'MethodNotAllowed', 'use POST');
  return action as TokenApiAction;
}

function parseJson(body: Buffer): unknown {
  try {
    return JSON.parse(body.toString('utf8'));
  } catch {
    throw httpError(400, 'InvalidParameter', 'the body is not JSON');
  }
}

/**
 * Serves the token API (docs/security.md): POST /api/v1/token/{apply,query,revoke} with a JSON
 * body, signed with an access key. Failed signatures count against the caller's address like
 * failed MQTT logins, and are logged without the header.
 */
export function startTokenApiServer(o: TokenApiServerOptions): Promise<Server | HttpsServer> {
  const handler = (req: IncomingMessage, res: ServerResponse) => void serve(req, res, o);
  const server = o.tls ? createHttpsServer(o.tls, handler) : createHttpServer(handler);
  server.requestTimeout = 10_000;
  return new Promise((resolve, reject) => {
    server.once('error', reject);
    server.listen(o.port, o.host, () => {
      server.off('error', reject);
      resolve(server);
    });
  });
}

async function serve(req: IncomingMessage, res: ServerResponse, o: TokenApiServerOptions): Promise<void> {
  let action = 'unknown';
  let response: TokenApiResponse;
  try {
    const known = actionOf(req);
    action = known;
    response = await authorizedCall(known, req, o);
  } catch (err) {
    if (err instanceof HttpError) response = err.response;
    else {
      o.log.error({ err: (err as Error).message, action }, 'token API call failed');
      response = { status: 500, body: { code: 'InternalError', message: 'internal error' } };
    }
  }
  o.metrics.tokenApiRequests.inc({ action, status: String(response.status) });
  if (!res.headersSent) res.writeHead(response.status, { 'content-type': 'application/json' }).end(JSON.stringify(response.body) + '\n');
}

async function authorizedCall(action: TokenApiAction, req: IncomingMessage, o: TokenApiServerOptions): Promise<TokenApiResponse> {
  const source = req.socket.remoteAddress ?? 'unknown';
  if (o.limiter.blocked(source)) throw httpError(429, 'TooManyRequests', 'too many failed requests from this address; retry in a minute');
  const body = await readBody(req);
  const auth = verifyRequest(req.headers.authorization, { method: 'POST', path: (req.url ?? '').split('?')[0]!, body }, o.deps.secretOf, o.deps.now());
  if (!auth.ok) throw refused(o, source, action, auth.reason, auth.detail);
  let fresh: boolean;
  try {
    // Remembered for twice the window: a timestamp up to the window ahead stays valid that long.
    fresh = await o.nonces.firstUse(auth.accessKeyId, auth.nonce, 2 * REQUEST_MAX_SKEW_SECONDS);
  } catch (err) {
    o.log.warn({ source, action, err: (err as Error).message }, 'token API request refused: its nonce cannot be checked');
    throw httpError(503, 'ServiceUnavailable', 'the request cannot be checked for replay now; retry');
  }
  if (!fresh) throw refused(o, source, action, 'replayed_nonce', `nonce ${auth.nonce} of ${auth.accessKeyId} was used before`);
  const response = await handleTokenApi(action, auth.accessKeyId, parseJson(body), o.deps);
  if (response.status === 200 && action !== 'query') {
    o.log.info({ action, accessKeyId: auth.accessKeyId, tokenId: response.body.tokenId, source }, `token ${action === 'apply' ? 'issued' : 'revoked'}`);
  }
  return response;
}

function refused(o: TokenApiServerOptions, source: string, action: string, reason: string, detail: string): HttpError {
  o.limiter.fail(source);
  o.metrics.authFailures.inc({ reason: `api_${reason}` });
  o.log.warn({ source, action, reason, detail }, 'token API request refused');
  return unauthorized();
}
