import { mkdtempSync, rmSync, writeFileSync } from 'node:fs';
import { Agent, request } from 'node:https';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { Writable } from 'node:stream';
import { createTelemetry, generateWorkloadKeyPair, type Telemetry } from '@reseal/core';
import { pino, type Logger } from 'pino';
import { CertificateAuthority } from '../../../control-plane/src/ca/index.js';
import { InjectorMetrics } from '../../src/injector-metrics.js';
import { makeInjectContext, type MeshInjectSettings } from '../../src/patch/index.js';
import { startWebhookServer, type WebhookServer } from '../../src/webhook-server.js';
import { TEST_TRUST_ROOT_HASH } from './fixtures.js';

/** A serving certificate for `localhost` from a fresh mesh CA, as the control plane would issue it. */
export class TestServingCertificates {
  readonly ca = CertificateAuthority.generate({ trustDomain: 'cluster.local' });
  readonly dir = mkdtempSync(join(tmpdir(), 'reseal-injector-test-'));
  readonly certFile = join(this.dir, 'tls.crt');
  readonly keyFile = join(this.dir, 'tls.key');

  constructor() {
    this.rotate();
  }

  /** What the MutatingWebhookConfiguration's caBundle holds. */
  get caBundlePem(): string {
    return this.ca.trustBundlePem;
  }

  /** Writes a new key pair; returns the new certificate's serial. */
  rotate(): string {
    const { publicKey, privateKey } = generateWorkloadKeyPair();
    const issued = this.ca.issueServingCertificate({ publicKey, dnsNames: ['localhost'], clientAuth: false, ttlSeconds: 3600 });
    writeFileSync(this.keyFile, privateKey.export({ type: 'pkcs8', format: 'pem' }));
    writeFileSync(this.certFile, issued.chainPem);
    return issued.serial;
  }

  remove(): void {
    rmSync(this.dir, { recursive: true, force: true });
  }
}

export function testMeshSettings(overrides: Partial<MeshInjectSettings> = {}): MeshInjectSettings {
  const { namespace: _namespace, ...settings } = makeInjectContext({
    namespace: '',
    images: { proxy: 'registry.example/reseal/sidecar:0.1.0', init: 'registry.example/reseal/sidecar:0.1.0' },
    version: '0.1.0',
    trustRootHash: TEST_TRUST_ROOT_HASH,
  });
  return { ...settings, ...overrides };
}

/** Log lines as parsed JSON, for asserting one line per admission. */
export class LogCapture {
  readonly lines: Record<string, unknown>[] = [];
  readonly logger: Logger = pino(
    { level: 'info' },
    new Writable({
      write: (chunk: Buffer, _encoding, callback) => {
        for (const line of chunk.toString('utf8').split('\n')) if (line) this.lines.push(JSON.parse(line) as Record<string, unknown>);
        callback();
      },
    }),
  );

  admissions(): Record<string, unknown>[] {
    return this.lines.filter((l) => l.event === 'admission');
  }
}

export interface RunningTestWebhook {
  readonly server: WebhookServer;
  readonly certificates: TestServingCertificates;
  readonly telemetry: Telemetry;
  readonly logs: LogCapture;
  readonly agent: Agent;
  stop(): Promise<void>;
}

export async function startTestWebhook(options: { reloadIntervalMs?: number; maxBodyBytes?: number; settings?: () => MeshInjectSettings } = {}): Promise<RunningTestWebhook> {
  const certificates = new TestServingCertificates();
  const telemetry = createTelemetry('reseal-injector-test');
  const logs = new LogCapture();
  const settings = testMeshSettings();
  const server = await startWebhookServer({
    host: '127.0.0.1',
    port: 0,
    tls: { certFile: certificates.certFile, keyFile: certificates.keyFile, reloadIntervalMs: options.reloadIntervalMs ?? 60_000 },
    settings: options.settings ?? (() => settings),
    logger: logs.logger,
    metrics: new InjectorMetrics(telemetry.meter),
    ...(options.maxBodyBytes === undefined ? {} : { maxBodyBytes: options.maxBodyBytes }),
  });
  const agent = new Agent({ keepAlive: true, ca: certificates.caBundlePem });
  return {
    server,
    certificates,
    telemetry,
    logs,
    agent,
    stop: async () => {
      agent.destroy();
      await server.stop(1000);
      await telemetry.shutdown();
      certificates.remove();
    },
  };
}

export interface HttpAnswer {
  status: number;
  headers: Record<string, string | string[] | undefined>;
  text: string;
  json(): Record<string, unknown>;
}

export function httpsRequest(
  url: string,
  options: { method?: string; body?: string | Buffer; agent?: Agent; ca?: string; headers?: Record<string, string> } = {},
): Promise<HttpAnswer> {
  return new Promise((resolve, reject) => {
    const req = request(
      url,
      {
        method: options.method ?? 'POST',
        ...(options.agent ? { agent: options.agent } : { ca: options.ca }),
        headers: { 'content-type': 'application/json', ...options.headers },
        timeout: 10_000,
      },
      (res) => {
        const chunks: Buffer[] = [];
        res.on('data', (c: Buffer) => chunks.push(c));
        res.on('end', () => {
          const text = Buffer.concat(chunks).toString('utf8');
          resolve({ status: res.statusCode ?? 0, headers: res.headers, text, json: () => JSON.parse(text) as Record<string, unknown> });
        });
        res.on('error', reject);
      },
    );
    req.on('timeout', () => req.destroy(new Error('request timed out')));
    req.on('error', reject);
    req.end(options.body);
  });
}

let uidCounter = 0;

/** An AdmissionReview as the API server sends it for a Pod CREATE. */
export function podReview(pod: unknown, overrides: Record<string, unknown> = {}): Record<string, unknown> {
  uidCounter += 1;
  return {
    apiVersion: 'admission.k8s.io/v1',
    kind: 'AdmissionReview',
    request: {
      uid: `00000000-0000-4000-8000-${String(uidCounter).padStart(12, '0')}`,
      kind: { group: '', version: 'v1', kind: 'Pod' },
      resource: { group: '', version: 'v1', resource: 'pods' },
      requestKind: { group: '', version: 'v1', kind: 'Pod' },
      requestResource: { group: '', version: 'v1', resource: 'pods' },
      namespace: 'shop',
      operation: 'CREATE',
      userInfo: { username: 'system:serviceaccount:kube-system:replicaset-controller', groups: ['system:serviceaccounts'] },
      object: pod,
      oldObject: null,
      dryRun: false,
      options: { apiVersion: 'meta.k8s.io/v1', kind: 'CreateOptions' },
      ...overrides,
    },
  };
}
