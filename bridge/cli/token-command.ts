import { readFileSync } from 'node:fs';
import { parseArgs } from 'node:util';
import { callTokenApi, type TokenApiTarget } from './token-client.js';

export const TOKEN_USAGE = `Usage: mqbridge token <apply|query|revoke|inspect> [options]

  apply   --resource FILTER [--resource FILTER ...] --actions R|W|RW (--ttl SECONDS | --expire-time MS)
          [--client-id GID_xxx@@@DeviceID | --client-id 'GID_xxx@@@<prefix>*']
          prints the new token (with --json: token, tokenId, resources, actions, expireTime, clientId);
          --client-id binds it to that client id (or those of the pattern): no other may use it
  query   TOKEN      whether the bridge accepts the token now (Valid, Expired, Revoked, Invalid)
  revoke  TOKEN      revokes it on every pod of the bridge
  inspect TOKEN      decodes the token's claims here (no key needed), then queries it when
                     credentials are given (--offline: decode only)

Connection and credentials (flags win over the environment):
  --url URL                  token API of the bridge   [MQBRIDGE_TOKEN_API, http://127.0.0.1:8090]
  --instance-id ID           the bridge's instance id  [MQBRIDGE_INSTANCE_ID]
  --access-key-id ID                                   [MQBRIDGE_ACCESS_KEY_ID]
  --access-key-secret-file F a file holding the secret [MQBRIDGE_ACCESS_KEY_SECRET]
  --ca-file F                CA of the bridge's HTTPS certificate
The secret is never taken as a flag, so it does not show in the process list or shell history.`;

const OPTIONS = {
  url: { type: 'string' },
  'instance-id': { type: 'string' },
  'access-key-id': { type: 'string' },
  'access-key-secret-file': { type: 'string' },
  'ca-file': { type: 'string' },
  resource: { type: 'string', multiple: true },
  'client-id': { type: 'string' },
  actions: { type: 'string' },
  ttl: { type: 'string' },
  'expire-time': { type: 'string' },
  json: { type: 'boolean' },
  offline: { type: 'boolean' },
  help: { type: 'boolean', short: 'h' },
} as const;

export class UsageError extends Error {}

type Values = ReturnType<typeof parseArgs<{ options: typeof OPTIONS; allowPositionals: true }>>['values'];

function target(v: Values, env: NodeJS.ProcessEnv): TokenApiTarget {
  const accessKeyId = v['access-key-id'] ?? env.MQBRIDGE_ACCESS_KEY_ID;
  const secretFile = v['access-key-secret-file'];
  const accessKeySecret = secretFile ? readFileSync(secretFile, 'utf8').trim() : env.MQBRIDGE_ACCESS_KEY_SECRET;
  if (!accessKeyId || !accessKeySecret) throw new UsageError('an access key is needed: --access-key-id and --access-key-secret-file, or MQBRIDGE_ACCESS_KEY_ID and MQBRIDGE_ACCESS_KEY_SECRET');
  return { url: v.url ?? env.MQBRIDGE_TOKEN_API ?? 'http://127.0.0.1:8090', accessKeyId, accessKeySecret, caFile: v['ca-file'] };
}

function instanceId(v: Values, env: NodeJS.ProcessEnv): string {
  const id = v['instance-id'] ?? env.MQBRIDGE_INSTANCE_ID;
  if (!id) throw new UsageError('--instance-id (or MQBRIDGE_INSTANCE_ID) is needed');
  return id;
}

function wholeNumber(name: string, text: string | undefined): number | undefined {
  if (text === undefined) return undefined;
  if (!/^\d+$/.test(text)) throw new UsageError(`--${name} must be a whole number`);
  return Number(text);
}

/** Decodes a token's claims without verifying them (only the bridge knows the secret). */
export function decodeToken(token: string): Record<string, unknown> {
  try {
    const claims = JSON.parse(Buffer.from(token.split('.')[0] ?? '', 'base64url').toString('utf8')) as Record<string, unknown>;
    if (typeof claims !== 'object' || claims === null) throw new Error();
    const when = (s: unknown) => (typeof s === 'number' ? new Date(s * 1000).toISOString() : undefined);
    return { ...claims, issuedAt: when(claims.iat), expiresAt: when(claims.exp) };
  } catch {
    throw new UsageError('not a token: expected base64url(claims).signature');
  }
}

/** Runs `mqbridge token ...`; returns what to print. */
export async function tokenCommand(args: string[], env: NodeJS.ProcessEnv = process.env): Promise<string> {
  let parsed;
  try {
    parsed = parseArgs({ args, options: OPTIONS, allowPositionals: true });
  } catch (err) {
    throw new UsageError((err as Error).message);
  }
  const { values: v, positionals } = parsed;
  const [command, token] = positionals;
  if (v.help || !command) return TOKEN_USAGE;
  const print = (o: unknown) => JSON.stringify(o, null, 2);
  switch (command) {
    case 'apply': {
      const ttlSeconds = wholeNumber('ttl', v.ttl);
      const expireTime = wholeNumber('expire-time', v['expire-time']);
      if (!v.resource?.length || !v.actions) throw new UsageError('apply needs --resource and --actions');
      const answer = await callTokenApi(target(v, env), 'apply', {
        instanceId: instanceId(v, env),
        resources: v.resource,
        actions: v.actions,
        ...(v['client-id'] !== undefined ? { clientId: v['client-id'] } : {}),
        ...(ttlSeconds !== undefined ? { ttlSeconds } : {}),
        ...(expireTime !== undefined ? { expireTime } : {}),
      });
      return v.json ? print(answer) : String(answer.token);
    }
    case 'query':
    case 'revoke':
      if (!token) throw new UsageError(`${command} needs the token`);
      return print(await callTokenApi(target(v, env), command, { instanceId: instanceId(v, env), token }));
    case 'inspect': {
      if (!token) throw new UsageError('inspect needs the token');
      const claims = decodeToken(token);
      if (v.offline) return print({ claims });
      return print({ claims, status: await callTokenApi(target(v, env), 'query', { instanceId: instanceId(v, env), token }) });
    }
    default:
      throw new UsageError(`unknown command "${command}"\n\n${TOKEN_USAGE}`);
  }
}
