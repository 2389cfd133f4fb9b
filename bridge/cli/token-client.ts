import { readFileSync } from 'node:fs';
import { request as httpRequest } from 'node:http';
import { request as httpsRequest } from 'node:https';
import { authorizationHeader, newNonce } from '../auth/request-signature.js';
import type { TokenApiAction } from '../auth/token-api.js';
import { TOKEN_API_PREFIX } from '../http/token-api-server.js';

export interface TokenApiTarget {
  /** Base URL of a bridge's token API, e.g. http://mqbridge-demo.iot:8090 */
  url: string;
  accessKeyId: string;
  accessKeySecret: string;
  /** PEM CA bundle that the bridge's HTTPS certificate chains to. */
  caFile?: string | undefined;
}

export class TokenApiError extends Error {
  constructor(
    readonly status: number,
    readonly code: string,
    message: string,
  ) {
    super(`${code} (HTTP ${status}): ${message}`);
  }
}

/** One signed call of the token API; resolves with the JSON answer of a 200, else throws a TokenApiError. */
export function callTokenApi(target: TokenApiTarget, action: TokenApiAction, payload: Record<string, unknown>): Promise<Record<string, unknown>> {
  const url = new URL(`${TOKEN_API_PREFIX}${action}`, target.url);
  const body = JSON.stringify(payload);
  const authorization = authorizationHeader(target.accessKeyId, target.accessKeySecret, {
    method: 'POST',
    path: url.pathname,
    body,
    timestamp: Math.floor(Date.now() / 1000),
    nonce: newNonce(),
  });
  const send = url.protocol === 'https:' ? httpsRequest : httpRequest;
  const ca = target.caFile ? readFileSync(target.caFile) : undefined;
  return new Promise((resolve, reject) => {
    const req = send(url, { method: 'POST', headers: { authorization, 'content-type': 'application/json', 'content-length': Buffer.byteLength(body) }, timeout: 10_000, ...(ca ? { ca } : {}) }, (res) => {
      const chunks: Buffer[] = [];
      res.on('data', (c: Buffer) => chunks.push(c));
      res.on('end', () => {
        let answer: Record<string, unknown>;
        try {
          answer = JSON.parse(Buffer.concat(chunks).toString('utf8')) as Record<string, unknown>;
        } catch {
          return reject(new TokenApiError(res.statusCode ?? 0, 'BadResponse', 'the answer is not JSON'));
        }
        if (res.statusCode === 200) resolve(answer);
        else reject(new TokenApiError(res.statusCode ?? 0, String(answer.code), String(answer.message)));
      });
    });
    req.on('timeout', () => req.destroy(new Error(`no answer from ${url.origin} within 10 s`)));
    req.on('error', reject);
    req.end(body);
  });
}
