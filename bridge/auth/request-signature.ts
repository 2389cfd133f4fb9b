/**
 * Signing of token API requests with an access key, so the secret never travels:
 *
 *   Authorization: MQBRIDGE-HMAC-SHA256 Credential=<AccessKeyId>, Timestamp=<unix s>, Nonce=<nonce>, Signature=<sig>
 *   sig = base64(HMAC-SHA256(key = AccessKeySecret,
 *                            data = METHOD "\n" path "\n" timestamp "\n" nonce "\n" hex(SHA-256(body))))
 *
 * A request is accepted within {@link REQUEST_MAX_SKEW_SECONDS} of its timestamp, and its nonce
 * (16–64 chars of `[A-Za-z0-9_-]`, random per request) only once: the server remembers the nonces
 * of the window, so a captured request cannot be replayed. Pure; the memory of nonces is the caller's.
 */
import { createHash, createHmac, randomBytes, timingSafeEqual } from 'node:crypto';
import { isAccessKeyId } from './credentials.js';

export const REQUEST_AUTH_SCHEME = 'MQBRIDGE-HMAC-SHA256';
export const REQUEST_MAX_SKEW_SECONDS = 300;

export const NONCE_PATTERN = /^[A-Za-z0-9_-]{16,64}$/;

export interface RequestToSign {
  method: string;
  path: string;
  body: string | Uint8Array;
  timestamp: number;
  nonce: string;
}

export const newNonce = () => randomBytes(18).toString('base64url');

function stringToSign(r: RequestToSign): string {
  const bodyHash = createHash('sha256').update(r.body).digest('hex');
  return `${r.method.toUpperCase()}\n${r.path}\n${r.timestamp}\n${r.nonce}\n${bodyHash}`;
}

export function requestSignature(secret: string, r: RequestToSign): string {
  return createHmac('sha256', secret).update(stringToSign(r), 'utf8').digest('base64');
}

/** The Authorization header value for a request. */
export function authorizationHeader(accessKeyId: string, secret: string, r: RequestToSign): string {
  return `${REQUEST_AUTH_SCHEME} Credential=${accessKeyId}, Timestamp=${r.timestamp}, Nonce=${r.nonce}, Signature=${requestSignature(secret, r)}`;
}

export type RequestAuthResult =
  | { ok: true; accessKeyId: string; nonce: string }
  | { ok: false; reason: 'missing_authorization' | 'malformed_authorization' | 'unknown_access_key' | 'stale_timestamp' | 'bad_signature'; detail: string };

const HEADER_PATTERN = new RegExp(`^${REQUEST_AUTH_SCHEME} Credential=([^,\\s]+), Timestamp=(\\d{1,11}), Nonce=([A-Za-z0-9_-]{16,64}), Signature=([A-Za-z0-9+/]{43}=)$`);

/** Checks the Authorization header of a request; `now` in unix seconds. */
export function verifyRequest(
  header: string | undefined,
  request: Omit<RequestToSign, 'timestamp' | 'nonce'>,
  secretOf: (accessKeyId: string) => string | undefined,
  now: number,
): RequestAuthResult {
  if (!header) return { ok: false, reason: 'missing_authorization', detail: `send an Authorization: ${REQUEST_AUTH_SCHEME} header` };
  const m = HEADER_PATTERN.exec(header);
  if (!m || !isAccessKeyId(m[1])) {
    return { ok: false, reason: 'malformed_authorization', detail: `expected ${REQUEST_AUTH_SCHEME} Credential=<AccessKeyId>, Timestamp=<unix seconds>, Nonce=<16-64 of A-Za-z0-9_->, Signature=<base64>` };
  }
  const [, accessKeyId, ts, nonce, given] = m as unknown as [string, string, string, string, string];
  const timestamp = Number(ts);
  if (Math.abs(now - timestamp) > REQUEST_MAX_SKEW_SECONDS) {
    return { ok: false, reason: 'stale_timestamp', detail: `timestamp ${timestamp} is more than ${REQUEST_MAX_SKEW_SECONDS}s away from ${now}` };
  }
  const secret = secretOf(accessKeyId);
  if (!secret) return { ok: false, reason: 'unknown_access_key', detail: `unknown AccessKeyId ${accessKeyId}` };
  const expected = Buffer.from(requestSignature(secret, { ...request, timestamp, nonce }), 'base64');
  const actual = Buffer.from(given, 'base64');
  if (actual.length !== expected.length || !timingSafeEqual(actual, expected)) {
    return { ok: false, reason: 'bad_signature', detail: 'the signature does not match' };
  }
  return { ok: true, accessKeyId, nonce };
}
