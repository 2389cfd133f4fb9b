import { authorizationHeader, requestSignature, verifyRequest, REQUEST_MAX_SKEW_SECONDS } from '../../bridge/auth/request-signature.js';

/**
 * Computed independently with OpenSSL 3.0:
 *   h=$(printf '%s' "$body" | openssl dgst -sha256 -r | cut -d' ' -f1)
 *   printf 'POST\n%s\n%s\n%s\n%s' "$path" "$ts" "$nonce" "$h" | openssl dgst -sha256 -hmac "$secret" -binary | base64
 */
const VECTORS: [secret: string, path: string, timestamp: number, nonce: string, body: string, signature: string][] = [
  ['secret-one', '/api/v1/token/query', 1764000000, '0123456789abcdefXYZ_-', '{"instanceId":"i-1","token":"x"}', 'mUjaKvigoOrrQ0QLFhh5zWSwT9ImOEoDIy/oxYZzq7E='],
  ['s', '/api/v1/token/apply', 1700000000, 'nonce-nonce-nonce-1', '', '2Aw+qjaquvKDNolWZ0dDzwKlU+5jr84dEN49Oh9kcBY='],
];

test.each(VECTORS)('HMAC-SHA256 request signature with %j for %s', (secret, path, timestamp, nonce, body, signature) => {
  expect(requestSignature(secret, { method: 'post', path, body, timestamp, nonce })).toBe(signature);
  expect(requestSignature(secret, { method: 'POST', path, body: Buffer.from(body), timestamp, nonce })).toBe(signature);
});

describe('verifyRequest', () => {
  const now = 1_764_000_000;
  const secrets: Record<string, string> = { AK_ONE: 'secret-one' };
  const secretOf = (ak: string) => secrets[ak];
  const request = { method: 'POST', path: '/api/v1/token/query', body: '{"instanceId":"i-1","token":"x"}' };
  const nonce = 'n0nce-of-this-request';
  const header = (o: { ak?: string; secret?: string; ts?: number; nonce?: string } = {}) =>
    authorizationHeader(o.ak ?? 'AK_ONE', o.secret ?? 'secret-one', { ...request, timestamp: o.ts ?? now, nonce: o.nonce ?? nonce });

  test('accepts a signed request and names its access key and nonce', () => {
    expect(verifyRequest(header(), request, secretOf, now)).toEqual({ ok: true, accessKeyId: 'AK_ONE', nonce });
  });

  test.each([
    ['at the far end of the allowed skew, behind', now - REQUEST_MAX_SKEW_SECONDS],
    ['at the far end of the allowed skew, ahead', now + REQUEST_MAX_SKEW_SECONDS],
  ])('accepts a timestamp %s', (_name, ts) => {
    expect(verifyRequest(header({ ts }), request, secretOf, now).ok).toBe(true);
  });

  test.each([
    ['no header', undefined, request, 'missing_authorization'],
    ['an empty header', '', request, 'missing_authorization'],
    ['another scheme', 'Bearer abc', request, 'malformed_authorization'],
    ['a missing signature', `MQBRIDGE-HMAC-SHA256 Credential=AK_ONE, Timestamp=${now}`, request, 'malformed_authorization'],
    ['no nonce (a request signed the old way)', header().replace(/ Nonce=[^,]+,/, ''), request, 'malformed_authorization'],
    ['a nonce too short', header({ nonce: 'short' }), request, 'malformed_authorization'],
    ['a nonce with other characters', header({ nonce: 'nonce with spaces in it' }), request, 'malformed_authorization'],
    ['a nonce other than the signed one', header().replace(nonce, 'another-nonce-of-mine'), request, 'bad_signature'],
    ['a short signature', `MQBRIDGE-HMAC-SHA256 Credential=AK_ONE, Timestamp=${now}, Signature=abc=`, request, 'malformed_authorization'],
    ['a bad access key id', header().replace('AK_ONE', 'AK|ONE'), request, 'malformed_authorization'],
    ['a non-numeric timestamp', header().replace(String(now), 'soon'), request, 'malformed_authorization'],
    ['a timestamp too old', header({ ts: now - REQUEST_MAX_SKEW_SECONDS - 1 }), request, 'stale_timestamp'],
    ['a timestamp too far ahead', header({ ts: now + REQUEST_MAX_SKEW_SECONDS + 1 }), request, 'stale_timestamp'],
    ['an unknown key', header({ ak: 'AK_NOPE' }), request, 'unknown_access_key'],
    ['the wrong secret', header({ secret: 'guess' }), request, 'bad_signature'],
    ['another body', header(), { ...request, body: '{"instanceId":"i-1","token":"y"}' }, 'bad_signature'],
    ['another path', header(), { ...request, path: '/api/v1/token/revoke' }, 'bad_signature'],
    ['another method', header(), { ...request, method: 'PUT' }, 'bad_signature'],
  ])('refuses %s', (_name, given, req, reason) => {
    const result = verifyRequest(given, req, secretOf, now);
    expect(result).toMatchObject({ ok: false, reason });
    // The refusal never echoes a secret.
    expect(JSON.stringify(result)).not.toContain('secret-one');
  });
});
