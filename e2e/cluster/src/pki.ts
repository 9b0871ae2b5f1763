// Fresh, throw-away PKI for one test cluster, made with the `openssl` CLI
// (Node's crypto can make keys but not certificates).
import { execFile } from 'node:child_process';
import { generateKeyPair, randomBytes } from 'node:crypto';
import { readFile, writeFile } from 'node:fs/promises';
import { join } from 'node:path';
import { promisify } from 'node:util';

const execFileAsync = promisify(execFile);
const generateKeyPairAsync = promisify(generateKeyPair);

/** Subject alternative names of the apiserver serving certificate. */
const SERVING_SANS = [
  'DNS:localhost',
  'DNS:kubernetes',
  'DNS:kubernetes.default',
  'DNS:kubernetes.default.svc',
  'DNS:kubernetes.default.svc.cluster.local',
  'IP:127.0.0.1',
  // first address of --service-cluster-ip-range: the `kubernetes` Service
  'IP:198.18.128.1',
];

export interface Pki {
  /** PEM of the CA that signed both the serving and the client certificates. */
  caPem: string;
  caCertFile: string;
  caKeyFile: string;
  servingCertFile: string;
  servingKeyFile: string;
  adminCertFile: string;
  adminKeyFile: string;
  adminCertPem: string;
  adminKeyPem: string;
  /** PKCS#8 PEM private key that signs service-account tokens. */
  serviceAccountKeyFile: string;
  /** SPKI PEM public key that verifies service-account tokens. */
  serviceAccountPubFile: string;
}

async function openssl(args: string[], cwd: string): Promise<void> {
  try {
    await execFileAsync('openssl', args, { cwd });
  } catch (err) {
    const e = err as NodeJS.ErrnoException & { stderr?: string };
    if (e.code === 'ENOENT') {
      throw new Error('test cluster: the `openssl` command is needed to make certificates but is not on PATH', {
        cause: err,
      });
    }
    throw new Error(`test cluster: openssl ${args[0] ?? ''} failed: ${e.stderr ?? e.message}`, { cause: err });
  }
}

const EC_KEY = ['-newkey', 'ec', '-pkeyopt', 'ec_paramgen_curve:prime256v1', '-nodes'];

/** Issues a leaf certificate signed by the CA in `dir`. */
async function issue(
  dir: string,
  name: string,
  subject: string,
  extensions: string[],
): Promise<void> {
  const ext = join(dir, `${name}.ext`);
  await writeFile(ext, ['[v3]', ...extensions, ''].join('\n'));
  await openssl(
    ['req', '-new', ...EC_KEY, '-keyout', `${name}.key`, '-out', `${name}.csr`, '-subj', subject],
    dir,
  );
  await openssl(
    [
      'x509', '-req', '-in', `${name}.csr`, '-CA', 'ca.crt', '-CAkey', 'ca.key', '-set_serial',
      `0x1${randomBytes(15).toString('hex')}`,
      '-days', '7', '-sha256', '-extfile', ext, '-extensions', 'v3', '-out', `${name}.crt`,
    ],
    dir,
  );
}

/** Writes a CA, serving and admin certificates and the service-account key pair into `dir`. */
export async function generatePki(dir: string, extraServingIps: readonly string[] = []): Promise<Pki> {
  const caConf = join(dir, 'ca.cnf');
  await writeFile(
    caConf,
    [
      '[req]',
      'distinguished_name = dn',
      'x509_extensions = v3_ca',
      'prompt = no',
      '[dn]',
      'CN = reseal-test-cluster-ca',
      '[v3_ca]',
      'basicConstraints = critical, CA:TRUE',
      'keyUsage = critical, keyCertSign, cRLSign, digitalSignature',
      'subjectKeyIdentifier = hash',
      '',
    ].join('\n'),
  );
  const saKeys = generateKeyPairAsync('rsa', {
    modulusLength: 2048,
    publicKeyEncoding: { type: 'spki', format: 'pem' },
    privateKeyEncoding: { type: 'pkcs8', format: 'pem' },
  });
  await openssl(
    ['req', '-x509', '-config', caConf, ...EC_KEY, '-keyout', 'ca.key', '-out', 'ca.crt', '-days', '7', '-sha256'],
    dir,
  );
  const common = [
    'basicConstraints = critical, CA:FALSE',
    'keyUsage = critical, digitalSignature, keyEncipherment',
    'authorityKeyIdentifier = keyid',
  ];
  await Promise.all([
    issue(dir, 'apiserver', '/CN=kube-apiserver', [
      ...common,
      'extendedKeyUsage = serverAuth',
      `subjectAltName = ${[...SERVING_SANS, ...extraServingIps.map((ip) => `IP:${ip}`)].join(', ')}`,
    ]),
    issue(dir, 'admin', '/O=system:masters/CN=reseal-test-admin', [...common, 'extendedKeyUsage = clientAuth']),
  ]);
  const { publicKey, privateKey } = await saKeys;
  const serviceAccountKeyFile = join(dir, 'sa.key');
  const serviceAccountPubFile = join(dir, 'sa.pub');
  await writeFile(serviceAccountKeyFile, privateKey, { mode: 0o600 });
  await writeFile(serviceAccountPubFile, publicKey);

  const [caPem, adminCertPem, adminKeyPem] = await Promise.all(
    ['ca.crt', 'admin.crt', 'admin.key'].map((f) => readFile(join(dir, f), 'utf8')),
  );
  return {
    caPem: caPem!,
    caCertFile: join(dir, 'ca.crt'),
    caKeyFile: join(dir, 'ca.key'),
    servingCertFile: join(dir, 'apiserver.crt'),
    servingKeyFile: join(dir, 'apiserver.key'),
    adminCertFile: join(dir, 'admin.crt'),
    adminKeyFile: join(dir, 'admin.key'),
    adminCertPem: adminCertPem!,
    adminKeyPem: adminKeyPem!,
    serviceAccountKeyFile,
    serviceAccountPubFile,
  };
}
