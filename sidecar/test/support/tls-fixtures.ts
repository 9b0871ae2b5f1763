// Test identities from a real Reseal CA: a TlsIdentitySource whose material can be rotated
// by hand, built the way the proxy's identity manager builds it (one SecureContext per
// certificate, the trust bundle as CA list, the mesh TLS parameters).

import { X509Certificate } from 'node:crypto';
import type { KeyObject } from 'node:crypto';
import { once } from 'node:events';
import { connect as connectTcp, createServer } from 'node:net';
import type { AddressInfo, Server, Socket } from 'node:net';
import { MeterProvider, MetricReader } from '@opentelemetry/sdk-metrics';
import type { DataPoint, Histogram } from '@opentelemetry/sdk-metrics';
import { generateWorkloadKeyPair } from '@reseal/core';
import { pino } from 'pino';
import type { Logger } from 'pino';
import { CertificateAuthority } from '../../../control-plane/src/ca/index.js';
import type { TlsIdentitySource, TlsMaterial } from '../../src/identity/tls-identity.js';
import type { EndpointInfo, MeshView, MtlsMode, ServiceTarget } from '../../src/mesh-view.js';
import { createMeshSecureContext } from '../../src/proxy-core/mesh-tls-context.js';
import { HttpDurationHistograms } from '../../src/telemetry/http-telemetry.js';
import { createProxyMetrics } from '../../src/telemetry/proxy-metrics.js';
import type { ProxyMetrics, ProxyMetricsOptions } from '../../src/telemetry/proxy-metrics.js';
import type { Meter } from '@opentelemetry/api';

export const TRUST_DOMAIN = 'cluster.local';

export function spiffeId(namespace: string, serviceAccount: string, trustDomain = TRUST_DOMAIN): string {
  return `spiffe://${trustDomain}/ns/${namespace}/sa/${serviceAccount}`;
}

export interface IssuedWorkload {
  readonly spiffeId: string;
  readonly privateKey: KeyObject;
  /** PKCS#8 PEM of the key; for peers that need files (HAProxy in the bench). */
  readonly keyPem: string;
  readonly chainPem: string;
  readonly trustBundlePem: string;
  readonly material: TlsMaterial;
}

export class TestCa {
  readonly ca: CertificateAuthority;

  private constructor(ca: CertificateAuthority) {
    this.ca = ca;
  }

  static create(trustDomain = TRUST_DOMAIN): TestCa {
    return new TestCa(CertificateAuthority.generate({ trustDomain }));
  }

  get trustBundlePem(): string {
    return this.ca.trustBundlePem;
  }

  /** A fresh key and X.509-SVID for `id`; `trustBundlePem` overrides the CA list (e.g. several roots). */
  issue(id: string, options: { ttlSeconds?: number; trustBundlePem?: string } = {}): IssuedWorkload {
    const { privateKey, publicKey } = generateWorkloadKeyPair();
    const issued = this.ca.issueWorkloadSvid({ publicKey, spiffeId: id, ttlSeconds: options.ttlSeconds ?? 3600 });
    const trustBundlePem = options.trustBundlePem ?? this.ca.trustBundlePem;
    const leaf = new X509Certificate(issued.certDer);
    const keyPem = privateKey.export({ format: 'pem', type: 'pkcs8' }) as string;
    const material: TlsMaterial = {
      spiffeId: id,
      secureContext: createMeshSecureContext({ keyPem, certificateChainPem: issued.chainPem, trustBundlePem }),
      certificateChainPem: issued.chainPem,
      trustBundlePem,
      notBefore: leaf.validFromDate,
      notAfter: leaf.validToDate,
      serial: issued.serial,
    };
    return {
      spiffeId: id,
      privateKey,
      keyPem,
      chainPem: issued.chainPem,
      trustBundlePem,
      material,
    };
  }
}

/** A TlsIdentitySource whose material the test replaces with rotate(). */
export class ManualTlsIdentity implements TlsIdentitySource {
  #material: TlsMaterial | undefined;
  readonly #listeners = new Set<(material: TlsMaterial) => void>();

  constructor(material?: TlsMaterial) {
    this.#material = material;
  }

  current(): TlsMaterial | undefined {
    return this.#material;
  }

  onChange(listener: (material: TlsMaterial) => void): () => void {
    this.#listeners.add(listener);
    return () => this.#listeners.delete(listener);
  }

  rotate(material: TlsMaterial): void {
    this.#material = material;
    for (const listener of this.#listeners) listener(material);
  }
}

export function identitySource(ca: TestCa, id: string): ManualTlsIdentity {
  return new ManualTlsIdentity(ca.issue(id).material);
}

// ---------------------------------------------------------------------------------------
// Harness for the proxy tests: a MeshView table, metrics read back in memory, a silent
// logger, an echo app, and socket helpers. Real sockets on loopback throughout.


export function silentLogger(): Logger {
  return pino({ level: process.env.RESEAL_TEST_LOG ?? 'silent' });
}

/** A MeshView from plain tables; tests mutate it directly. */
export class StaticMeshView implements MeshView {
  synced = true;
  mode: MtlsMode = 'STRICT';
  readonly endpoints = new Map<string, EndpointInfo>();
  readonly services = new Map<string, ServiceTarget[]>();
  /** port → allowed client IDs; a port missing here allows every identity. */
  readonly allow = new Map<number, Set<string>>();

  meshed(ip: string, identity: string): this {
    this.endpoints.set(ip, { ip, identity, meshed: true, namespace: 'test', workload: ip });
    return this;
  }

  service(clusterIp: string, port: number, targets: ServiceTarget[]): this {
    this.services.set(`${clusterIp}|${port}`, targets);
    return this;
  }

  endpoint(ip: string): EndpointInfo | undefined {
    return this.endpoints.get(ip);
  }

  serviceTargets(clusterIp: string, port: number): readonly ServiceTarget[] | undefined {
    return this.services.get(`${clusterIp}|${port}`);
  }

  mtlsMode(): MtlsMode {
    return this.mode;
  }

  allowsInbound(port: number, clientIdentity: string): boolean {
    const allowed = this.allow.get(port);
    return allowed === undefined || allowed.has(clientIdentity);
  }
}

class TestReader extends MetricReader {
  protected override onForceFlush(): Promise<void> {
    return Promise.resolve();
  }
  protected override onShutdown(): Promise<void> {
    return Promise.resolve();
  }
}

export interface TestMetrics {
  readonly metrics: ProxyMetrics;
  readonly meter: Meter;
  /** The HTTP duration histograms, collected by the same reader as the meter's instruments. */
  readonly httpDurations: HttpDurationHistograms;
  /** Sum of a counter's (or up-down counter's) points whose attributes include `match`. */
  sum(name: string, match?: Record<string, string>): Promise<number>;
  /** Count of a histogram's recordings whose attributes include `match`. */
  histogramCount(name: string, match?: Record<string, string>): Promise<number>;
  /** The full attribute sets of a metric's points whose attributes include `match`, to assert a series' exact labels. */
  attributeSets(name: string, match?: Record<string, string>): Promise<Record<string, unknown>[]>;
}

export function testMetrics(options: ProxyMetricsOptions = {}): TestMetrics {
  const httpDurations = new HttpDurationHistograms();
  const reader = new TestReader({ metricProducers: [httpDurations] });
  const provider = new MeterProvider({ readers: [reader] });
  const meter = provider.getMeter('test');
  const metrics = createProxyMetrics(meter, options);
  const points = async (name: string, match: Record<string, string>): Promise<DataPoint<unknown>[]> => {
    const { resourceMetrics } = await reader.collect();
    const out: DataPoint<unknown>[] = [];
    for (const scope of resourceMetrics.scopeMetrics) {
      for (const metric of scope.metrics) {
        if (metric.descriptor.name !== name) continue;
        for (const point of metric.dataPoints as DataPoint<unknown>[]) {
          if (Object.entries(match).every(([k, v]) => point.attributes[k] === v)) out.push(point);
        }
      }
    }
    return out;
  };
  return {
    metrics,
    meter,
    httpDurations,
    async sum(name, match = {}) {
      return (await points(name, match)).reduce((total, point) => total + (point.value as number), 0);
    },
    async histogramCount(name, match = {}) {
      return (await points(name, match)).reduce((total, point) => total + (point.value as Histogram).count, 0);
    },
    async attributeSets(name, match = {}) {
      return (await points(name, match)).map((point) => ({ ...point.attributes }));
    },
  };
}

export interface EchoServer {
  readonly server: Server;
  readonly port: number;
  /** Connections the app accepted so far. */
  readonly accepted: number;
  readonly received: Buffer[];
  close(): Promise<void>;
}

/**
 * The app: echoes every byte back and half-closes after the client's FIN, so a
 * request-then-FIN exchange sees its whole answer.
 */
export async function startEchoServer(host = '127.0.0.1'): Promise<EchoServer> {
  let accepted = 0;
  const received: Buffer[] = [];
  const sockets = new Set<Socket>();
  const server = createServer({ allowHalfOpen: true }, (socket) => {
    accepted++;
    sockets.add(socket);
    socket.on('close', () => sockets.delete(socket));
    socket.on('error', () => {});
    socket.on('data', (chunk: Buffer) => {
      received.push(chunk);
      socket.write(chunk);
    });
    socket.on('end', () => socket.end());
  });
  server.listen(0, host);
  await once(server, 'listening');
  return {
    server,
    port: (server.address() as AddressInfo).port,
    get accepted() {
      return accepted;
    },
    received,
    close: () =>
      new Promise<void>((resolve) => {
        for (const socket of sockets) socket.destroy();
        server.close(() => resolve());
      }),
  };
}

export interface ExchangeResult {
  readonly data: Buffer;
  /** The connection ended with an error (reset) rather than a clean FIN. */
  readonly error: Error | undefined;
}

/** Connects, sends `payload`, half-closes, and collects everything until the server closes. */
export async function exchange(port: number, payload: Buffer | string, host = '127.0.0.1', timeoutMs = 5_000): Promise<ExchangeResult> {
  const socket = connectTcp({ host, port, allowHalfOpen: true });
  const chunks: Buffer[] = [];
  let error: Error | undefined;
  socket.on('data', (chunk: Buffer) => chunks.push(chunk));
  socket.on('error', (err) => {
    error = err;
  });
  socket.once('connect', () => socket.end(payload));
  const timer = setTimeout(() => socket.destroy(new Error(`exchange with ${host}:${port} timed out`)), timeoutMs);
  await closed(socket);
  clearTimeout(timer);
  return { data: Buffer.concat(chunks), error };
}

/** A long-lived client: send a line, read the echo back. */
export class EchoClient {
  readonly socket: Socket;
  #buffer = Buffer.alloc(0);
  #waiters: (() => void)[] = [];

  private constructor(socket: Socket) {
    this.socket = socket;
    socket.on('data', (chunk: Buffer) => {
      this.#buffer = Buffer.concat([this.#buffer, chunk]);
      for (const wake of this.#waiters.splice(0)) wake();
    });
    socket.on('close', () => {
      for (const wake of this.#waiters.splice(0)) wake();
    });
    socket.on('error', () => {});
  }

  static async connect(port: number, host = '127.0.0.1'): Promise<EchoClient> {
    const socket = connectTcp({ host, port, allowHalfOpen: true });
    await once(socket, 'connect');
    return new EchoClient(socket);
  }

  /** Writes `text` and resolves with the same number of bytes read back (or what came before close). */
  async echo(text: string, timeoutMs = 5_000): Promise<string> {
    const wanted = Buffer.byteLength(text);
    this.socket.write(text);
    const deadline = Date.now() + timeoutMs;
    while (this.#buffer.length < wanted && !this.socket.destroyed && Date.now() < deadline) {
      await new Promise<void>((resolve) => {
        this.#waiters.push(resolve);
        setTimeout(resolve, 50);
      });
    }
    const out = this.#buffer.subarray(0, wanted).toString();
    this.#buffer = this.#buffer.subarray(Math.min(wanted, this.#buffer.length));
    return out;
  }

  close(): void {
    this.socket.destroy();
  }
}

/**
 * A plain TCP forwarder that keeps a copy of every byte going through: put between the two
 * sidecars, it shows what the wire carries.
 */
export async function startTap(targetPort: number, targetHost = '127.0.0.1'): Promise<{ port: number; bytes: () => Buffer; close: () => Promise<void> }> {
  const seen: Buffer[] = [];
  const sockets = new Set<Socket>();
  const server = createServer({ allowHalfOpen: true }, (client) => {
    const upstream = connectTcp({ host: targetHost, port: targetPort, allowHalfOpen: true });
    for (const s of [client, upstream]) {
      sockets.add(s);
      s.on('close', () => sockets.delete(s));
      s.on('error', () => {
        client.destroy();
        upstream.destroy();
      });
    }
    client.on('data', (chunk: Buffer) => {
      seen.push(chunk);
      upstream.write(chunk);
    });
    upstream.on('data', (chunk: Buffer) => {
      seen.push(chunk);
      client.write(chunk);
    });
    client.on('end', () => upstream.end());
    upstream.on('end', () => client.end());
  });
  server.listen(0, '127.0.0.1');
  await once(server, 'listening');
  return {
    port: (server.address() as AddressInfo).port,
    bytes: () => Buffer.concat(seen),
    close: () =>
      new Promise<void>((resolve) => {
        for (const s of sockets) s.destroy();
        server.close(() => resolve());
      }),
  };
}

/** Resolves on 'close' whatever happened before (events.once would reject on 'error'). */
export function closed(socket: Socket): Promise<void> {
  if (socket.closed) return Promise.resolve();
  return new Promise((resolve) => socket.once('close', () => resolve()));
}

export function delay(ms: number): Promise<void> {
  return new Promise((resolve) => setTimeout(resolve, ms));
}

/** Polls `condition` until true or `timeoutMs` passes. */
export async function eventually(condition: () => boolean | Promise<boolean>, timeoutMs = 5_000, what = 'condition'): Promise<void> {
  const deadline = Date.now() + timeoutMs;
  while (!(await condition())) {
    if (Date.now() > deadline) throw new Error(`timed out waiting for ${what}`);
    await delay(20);
  }
}
