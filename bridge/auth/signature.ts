/**
 * Signature mode password: `Base64(HMAC-SHA1(key=AccessKeySecret, data=clientId))`
 * (mapping contract, "Authentication modes"). Pure: no I/O.
 */
import { createHash, createHmac, timingSafeEqual } from 'node:crypto';

/** The password a device must send in Signature mode. Throws on an empty secret. */
export function signatureFor(secret: string, clientId: string): string {
  if (typeof secret !== 'string' || secret.length === 0) throw new TypeError('the AccessKeySecret must not be empty');
  return createHmac('sha1', secret).update(clientId, 'utf8').digest('base64');
}

/**
 * Whether `password` is the signature of `clientId` under `secret`, compared in constant time
 * whatever the lengths (both sides are hashed to fixed-length digests first). An empty secret
 * or password never verifies. A Buffer password (as aedes hands it over) is compared bytewise.
 */
export function verifySignature(secret: string, clientId: string, password: string | Uint8Array | undefined | null): boolean {
  if (typeof secret !== 'string' || secret.length === 0) return false;
  if (typeof clientId !== 'string') return false;
  if (password === undefined || password === null || password.length === 0) return false;
  const given = typeof password === 'string' ? Buffer.from(password, 'utf8') : Buffer.from(password);
  const expected = Buffer.from(signatureFor(secret, clientId), 'utf8');
  const digest = (b: Buffer) => createHash('sha256').update(b).digest();
  const same = timingSafeEqual(digest(given), digest(expected));
  return same && given.length === expected.length;
}
