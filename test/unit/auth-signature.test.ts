import { signatureFor, verifySignature } from '../../bridge/auth/signature.js';

/**
 * Computed independently with OpenSSL 3.0:
 *   printf '%s' "$clientId" | openssl dgst -sha1 -hmac "$secret" -binary | base64
 */
const VECTORS: [secret: string, clientId: string, password: string][] = [
  ['LTAIsecretExample1234567890abcd', 'GID_test@@@device-001', 'CbrYVypAL0+hKC2IhunJNxnde+s='],
  ['s', 'GID-abc@@@d.1', 'Ys5SGoV87M9+AtcTajLoTWD3m9M='],
  ['p@ss|w0rd:%,', 'GID_sensor_fleet@@@AA-BB-CC-DD-EE-FF', 'ybNa9M68w1zNMKj+0my1Om5E1P8='],
  ['秘密の鍵', 'GID_xyz@@@_', 'H5lRBiam87NYm1hpUjdYMobkZGk='],
];

describe('signatureFor', () => {
  test.each(VECTORS)('HMAC-SHA1(%j, %j) = %j', (secret, clientId, password) => {
    expect(signatureFor(secret, clientId)).toBe(password);
  });

  test('refuses an empty secret', () => {
    expect(() => signatureFor('', 'GID_test@@@d')).toThrow(TypeError);
  });
});

describe('verifySignature', () => {
  test.each(VECTORS)('accepts the vector of %j / %j as string and as Buffer', (secret, clientId, password) => {
    expect(verifySignature(secret, clientId, password)).toBe(true);
    expect(verifySignature(secret, clientId, Buffer.from(password))).toBe(true);
  });

  const [secret, clientId, password] = VECTORS[0]!;
  test.each<[string, string, string, string | Buffer | undefined | null]>([
    ['wrong secret', 'LTAIsecretExample1234567890abcD', clientId, password],
    ['secret with extra char', `${secret} `, clientId, password],
    ['other client id', secret, 'GID_test@@@device-002', password],
    ['client id case', secret, 'gid_test@@@device-001', password],
    ['empty secret', '', clientId, password],
    ['empty password', secret, clientId, ''],
    ['undefined password', secret, clientId, undefined],
    ['null password', secret, clientId, null],
    ['empty Buffer', secret, clientId, Buffer.alloc(0)],
    ['password without padding', secret, clientId, password.replace(/=+$/, '')],
    ['password with extra char', secret, clientId, `${password}=`],
    ['password with trailing newline', secret, clientId, `${password}\n`],
    ['password prefix', secret, clientId, password.slice(0, 10)],
    ['password in base64url', secret, clientId, Buffer.from(password, 'base64').toString('base64url')],
    ['password as hex', secret, clientId, Buffer.from(password, 'base64').toString('hex')],
    ['raw digest bytes', secret, clientId, Buffer.from(password, 'base64')],
    ['lower-cased password', secret, clientId, password.toLowerCase()],
    ['very long password', secret, clientId, password.repeat(5000)],
    ['unicode password', secret, clientId, 'ÇbrYVypAL0+hKC2IhunJNxnde+s='],
    ['signature of another vector', secret, clientId, VECTORS[1]![2]],
  ])('refuses %s', (_what, s, id, pw) => {
    expect(verifySignature(s, id, pw)).toBe(false);
  });
});
