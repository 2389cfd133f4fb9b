import { execFile } from 'node:child_process';
import { mkdtemp, mkdir, writeFile } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { promisify } from 'node:util';

const run = promisify(execFile);
const openssl = (args: string[], cwd: string) => run('openssl', args, { cwd });

export interface Pki {
  dir: string;
  ca: string;
  otherCa: string;
  serverCert: string;
  serverKey: string;
  expiredCert: string;
  clientCert: string;
  clientKey: string;
  otherClientCert: string;
  otherClientKey: string;
}

async function makeCa(dir: string, name: string) {
  await openssl(['req', '-x509', '-newkey', 'rsa:2048', '-nodes', '-keyout', `${name}.key`, '-out', `${name}.crt`, '-days', '2', '-subj', `/CN=${name}`], dir);
}

/** Signs a key for CN (server: SAN 127.0.0.1 and localhost) with `openssl ca`, which can set any validity. */
async function issue(dir: string, ca: string, name: string, cn: string, server: boolean, start: string, end: string) {
  await openssl(['req', '-newkey', 'rsa:2048', '-nodes', '-keyout', `${name}.key`, '-out', `${name}.csr`, '-subj', `/CN=${cn}`], dir);
  const ext = server ? 'subjectAltName=IP:127.0.0.1,DNS:localhost\nextendedKeyUsage=serverAuth\n' : 'extendedKeyUsage=clientAuth\n';
  await writeFile(join(dir, `${name}.ext`), ext);
  const db = join(dir, `${ca}-db`);
  await mkdir(db, { recursive: true });
  await writeFile(join(db, 'index.txt'), '', { flag: 'a' });
  await writeFile(join(dir, `${name}.cnf`), [
    '[ca]', 'default_ca = test', '[test]', `database = ${db}/index.txt`, `new_certs_dir = ${db}`, 'rand_serial = yes',
    'default_md = sha256', 'policy = any', 'unique_subject = no', 'copy_extensions = none', '[any]', 'commonName = supplied',
  ].join('\n'));
  await openssl(['ca', '-batch', '-config', `${name}.cnf`, '-cert', `${ca}.crt`, '-keyfile', `${ca}.key`, '-in', `${name}.csr`, '-out', `${name}.crt`,
    '-startdate', start, '-enddate', end, '-extfile', `${name}.ext`, '-notext'], dir);
}

/** A throwaway PKI: a test CA, a second CA nobody trusts, server and client certificates, one expired. */
export async function makePki(): Promise<Pki> {
  const dir = await mkdtemp(join(tmpdir(), 'mqbridge-pki-'));
  await makeCa(dir, 'ca');
  await makeCa(dir, 'other-ca');
  const now = Date.now();
  const stamp = (ms: number) => new Date(ms).toISOString().replace(/[-:T]/g, '').slice(0, 14) + 'Z';
  await issue(dir, 'ca', 'server', '127.0.0.1', true, stamp(now - 3_600_000), stamp(now + 86_400_000));
  await issue(dir, 'ca', 'expired', '127.0.0.1', true, stamp(now - 2 * 86_400_000), stamp(now - 86_400_000));
  await issue(dir, 'ca', 'client', 'GID_tls@@@dev1', false, stamp(now - 3_600_000), stamp(now + 86_400_000));
  await issue(dir, 'other-ca', 'other-client', 'GID_tls@@@intruder', false, stamp(now - 3_600_000), stamp(now + 86_400_000));
  const f = (n: string) => join(dir, n);
  return {
    dir,
    ca: f('ca.crt'),
    otherCa: f('other-ca.crt'),
    serverCert: f('server.crt'),
    serverKey: f('server.key'),
    expiredCert: f('expired.crt'),
    clientCert: f('client.crt'),
    clientKey: f('client.key'),
    otherClientCert: f('other-client.crt'),
    otherClientKey: f('other-client.key'),
  };
}
