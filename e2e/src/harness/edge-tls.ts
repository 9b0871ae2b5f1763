// The public edge's certificate: what a cert-manager Issuer would put in the Ingress's TLS
// Secret. A throw-away CA and a serving certificate for the shop's host name.
import { execFile } from 'node:child_process';
import { mkdtemp, readFile, rm, writeFile } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { promisify } from 'node:util';

const run = promisify(execFile);

export interface EdgeTls {
  readonly caPem: string;
  readonly certPem: string;
  readonly keyPem: string;
}

export async function makeEdgeTls(host: string): Promise<EdgeTls> {
  const dir = await mkdtemp(join(tmpdir(), 'reseal-e2e-edge-'));
  try {
    const f = (name: string): string => join(dir, name);
    await run('openssl', ['req', '-x509', '-newkey', 'ec', '-pkeyopt', 'ec_paramgen_curve:P-256', '-nodes', '-days', '2', '-subj', '/CN=Reseal e2e edge CA', '-keyout', f('ca.key'), '-out', f('ca.crt')]);
    await run('openssl', ['req', '-newkey', 'ec', '-pkeyopt', 'ec_paramgen_curve:P-256', '-nodes', '-subj', `/CN=${host}`, '-keyout', f('tls.key'), '-out', f('tls.csr')]);
    await writeFile(f('ext.cnf'), `subjectAltName=DNS:${host}\nextendedKeyUsage=serverAuth\nbasicConstraints=critical,CA:FALSE\n`);
    await run('openssl', ['x509', '-req', '-in', f('tls.csr'), '-CA', f('ca.crt'), '-CAkey', f('ca.key'), '-CAcreateserial', '-days', '1', '-extfile', f('ext.cnf'), '-out', f('tls.crt')]);
    return {
      caPem: await readFile(f('ca.crt'), 'utf8'),
      certPem: await readFile(f('tls.crt'), 'utf8'),
      keyPem: await readFile(f('tls.key'), 'utf8'),
    };
  } finally {
    await rm(dir, { recursive: true, force: true });
  }
}
