import { X509Certificate, type KeyObject } from 'node:crypto';
import { readFile } from 'node:fs/promises';
import { createMeshSecureContext } from '../proxy-core/mesh-tls-context.js';
import { status as grpcStatus } from '@grpc/grpc-js';
import { createCsr, decodePemAll, encodePem, generateWorkloadKeyPair, readSpiffeId, type CertifyResponse } from '@reseal/core';
import type { Logger } from 'pino';
import { CONTROL_PLANE_SERVER_NAME, certify, isServiceError, isTokenRefusal, type CertifyCall } from './control-plane-client.js';
import {
  DEFAULT_BACKOFF_POLICY,
  DEFAULT_RENEWAL_POLICY,
  nextRenewalDelay,
  retryDelay,
  type BackoffPolicy,
  type RenewalPolicy,
} from './renewal-schedule.js';
import type { TlsIdentitySource, TlsMaterial } from './tls-identity.js';
import { chainsToBundle, parseTrustBundle, type TrustBundle, type TrustBundleSource } from './trust-bundle.js';

export interface WorkloadIdentityOptions {
  /** This workload's ID, `workloadSpiffeId(trustDomain, namespace, serviceAccount)`; the CSR asks for it and the answer must carry it. */
  spiffeId: string;
  /** host:port of the identity service, e.g. `reseal-control-plane.reseal-system.svc:15012`. */
  controlPlaneAddress: string;
  /** TLS name the control plane's certificate is checked against; default `reseal-control-plane.reseal-system.svc`. */
  controlPlaneServerName?: string;
  /**
   * Roots to verify the control plane with before any trust bundle is known. Normally unset:
   * the mounted trust bundle (`trustBundle`) and later the bundle of the last Certify answer
   * are used, in that order.
   */
  controlPlaneRootsPem?: string;
  /** Projected ServiceAccount token (audience `reseal`); read before every request because kubelet refreshes it. */
  tokenPath: string;
  /** Requested lifetime; 0 or unset lets the control plane choose. */
  ttlSeconds?: number;
  /** The mounted trust bundle. When set, its roots are the CA list of every SecureContext; otherwise the Certify answer's bundle is. */
  trustBundle?: TrustBundleSource;
  logger: Logger;
  /** Default: renew at 0.5 of the lifetime ± 10 % (the jitter narrows for fractions near 0 or 1). */
  renewal?: Partial<RenewalPolicy>;
  backoff?: Partial<BackoffPolicy>;
  /** Deadline of one Certify call; default 10 s. */
  requestTimeoutMs?: number;
  random?: () => number;
  now?: () => number;
}

export type RenewalAuth = 'token' | 'certificate';

export interface IdentityStatus {
  readonly spiffeId: string;
  /** A certificate is held (it may have expired since). */
  readonly ready: boolean;
  readonly expired: boolean;
  readonly serial: string | undefined;
  readonly notBefore: Date | undefined;
  readonly notAfter: Date | undefined;
  /** Last successful issuance. */
  readonly lastRenewal: Date | undefined;
  readonly lastRenewalAuth: RenewalAuth | undefined;
  readonly lastAttempt: Date | undefined;
  /** When the next attempt is due: the scheduled renewal, or the next retry while failing. */
  readonly nextAttempt: Date | undefined;
  readonly consecutiveFailures: number;
  /** The wait chosen after the last failure; undefined while not failing. */
  readonly backoffMs: number | undefined;
  readonly lastError: string | undefined;
  readonly renewals: { readonly success: number; readonly failure: number };
  readonly trustBundleSource: 'file' | 'control-plane' | undefined;
  readonly trustBundleRoots: number;
}

/** What the admin port and the metrics read. */
export interface IdentityStatusSource extends TlsIdentitySource {
  status(): IdentityStatus;
}

interface HeldCertificate {
  readonly keyPem: string;
  readonly chainPem: string;
  readonly chain: readonly X509Certificate[];
  readonly serial: string;
  readonly notBefore: Date;
  readonly notAfter: Date;
  /** The bundle that came with the certificate, used when no bundle file is mounted. */
  readonly responseBundle: TrustBundle | undefined;
}

// Wake up at least this often and compare against the wall clock, so that a suspended VM or
// a clock step does not leave a renewal waiting on a timer that counted monotonic time.
const MAX_TIMER_MS = 60_000;

/**
 * This workload's mesh identity: a key made in this process, certified by the control plane,
 * renewed before it expires, and offered to the data path as one SecureContext per
 * certificate and trust bundle. The private key exists only in this process's memory and is
 * never logged; every renewal makes a new one.
 */
export class WorkloadIdentity implements IdentityStatusSource {
  private readonly logger: Logger;
  private readonly renewalPolicy: RenewalPolicy;
  private readonly backoffPolicy: BackoffPolicy;
  private readonly random: () => number;
  private readonly now: () => number;
  private readonly serverName: string;
  private readonly listeners = new Set<(material: TlsMaterial) => void>();
  private held: HeldCertificate | undefined;
  private material: TlsMaterial | undefined;
  private timer: NodeJS.Timeout | undefined;
  private nextAttemptAt: number | undefined;
  private inflight: Promise<TlsMaterial> | undefined;
  private started = false;
  private stopped = false;
  private unsubscribeBundle: (() => void) | undefined;
  private consecutiveFailures = 0;
  private successes = 0;
  private failures = 0;
  private lastError: string | undefined;
  private backoffMs: number | undefined;
  private lastRenewal: number | undefined;
  private lastRenewalAuth: RenewalAuth | undefined;
  private lastAttempt: number | undefined;
  private expiryLogged = false;
  private readonly first: { promise: Promise<TlsMaterial>; resolve(m: TlsMaterial): void; reject(e: Error): void };

  constructor(private readonly options: WorkloadIdentityOptions) {
    this.logger = options.logger;
    const fraction = options.renewal?.fraction ?? DEFAULT_RENEWAL_POLICY.fraction;
    // ±10 % at half-life; narrower near the ends, so that a fraction of 0.05 (rotation every few
    // seconds in end-to-end tests) or 0.9 stays inside the lifetime.
    const jitter = options.renewal?.jitter ?? Math.min(DEFAULT_RENEWAL_POLICY.jitter, fraction * 0.2, (1 - fraction) * 0.2);
    this.renewalPolicy = { fraction, jitter };
    this.backoffPolicy = { ...DEFAULT_BACKOFF_POLICY, ...options.backoff };
    if (!(fraction > 0 && fraction < 1 && jitter >= 0 && jitter < Math.min(fraction, 1 - fraction))) {
      throw new RangeError(`renewal policy: need 0 < fraction < 1 and 0 <= jitter < min(fraction, 1 - fraction), got fraction ${fraction}, jitter ${jitter}`);
    }
    if (!(this.backoffPolicy.initialMs > 0 && this.backoffPolicy.maxMs >= this.backoffPolicy.initialMs)) {
      throw new RangeError('backoff policy: need 0 < initialMs <= maxMs');
    }
    this.random = options.random ?? Math.random;
    this.now = options.now ?? Date.now;
    this.serverName = options.controlPlaneServerName ?? CONTROL_PLANE_SERVER_NAME;
    let resolve!: (m: TlsMaterial) => void;
    let reject!: (e: Error) => void;
    const promise = new Promise<TlsMaterial>((res, rej) => {
      resolve = res;
      reject = rej;
    });
    // Marked handled: a caller that never awaits start() must not crash the process on stop().
    promise.catch(() => {});
    this.first = { promise, resolve, reject };
  }

  get spiffeId(): string {
    return this.options.spiffeId;
  }

  /** True once a certificate is held. */
  get ready(): boolean {
    return this.material !== undefined;
  }

  current(): TlsMaterial | undefined {
    return this.material;
  }

  onChange(listener: (material: TlsMaterial) => void): () => void {
    this.listeners.add(listener);
    return () => this.listeners.delete(listener);
  }

  /**
   * Asks for the first certificate and keeps asking, with backoff, until it comes; resolves
   * then. Rejects only if stop() is called first.
   */
  start(): Promise<TlsMaterial> {
    if (this.stopped) return Promise.reject(new Error('workload identity was stopped'));
    if (!this.started) {
      this.started = true;
      this.unsubscribeBundle = this.options.trustBundle?.onChange((bundle) => this.onTrustBundle(bundle));
      this.runAttempt();
    }
    return this.first.promise;
  }

  stop(): void {
    this.stopped = true;
    if (this.timer) clearTimeout(this.timer);
    this.timer = undefined;
    this.nextAttemptAt = undefined;
    this.unsubscribeBundle?.();
    this.unsubscribeBundle = undefined;
    if (!this.material) this.first.reject(new Error('workload identity stopped before the first certificate'));
  }

  /**
   * Renews now instead of at the scheduled time (tests, and operators through a debug hook).
   * Resolves with the new material; rejects when this attempt failed, in which case retries
   * go on with backoff as after any failure.
   */
  rotateNow(): Promise<TlsMaterial> {
    if (this.stopped) return Promise.reject(new Error('workload identity was stopped'));
    return this.attempt();
  }

  status(): IdentityStatus {
    const held = this.held;
    const now = this.now();
    const bundle = this.effectiveBundle();
    return {
      spiffeId: this.options.spiffeId,
      ready: this.material !== undefined,
      expired: held !== undefined && now >= held.notAfter.getTime(),
      serial: held?.serial,
      notBefore: held?.notBefore,
      notAfter: held?.notAfter,
      lastRenewal: dateOrUndefined(this.lastRenewal),
      lastRenewalAuth: this.lastRenewalAuth,
      lastAttempt: dateOrUndefined(this.lastAttempt),
      nextAttempt: dateOrUndefined(this.nextAttemptAt),
      consecutiveFailures: this.consecutiveFailures,
      backoffMs: this.backoffMs,
      lastError: this.lastError,
      renewals: { success: this.successes, failure: this.failures },
      trustBundleSource: this.options.trustBundle?.current() ? 'file' : held?.responseBundle ? 'control-plane' : undefined,
      trustBundleRoots: bundle?.certificates.length ?? 0,
    };
  }

  private runAttempt(): void {
    this.attempt().catch(() => {
      // Counted, logged and rescheduled inside attempt().
    });
  }

  private attempt(): Promise<TlsMaterial> {
    if (this.inflight) return this.inflight;
    if (this.timer) clearTimeout(this.timer);
    this.timer = undefined;
    this.nextAttemptAt = undefined;
    // Cleared before anyone hears the outcome, so that a rotateNow() right after start()
    // resolves asks for a new certificate instead of getting the first one again.
    const running = this.renew().then(
      (material) => {
        this.inflight = undefined;
        this.first.resolve(material);
        return material;
      },
      (error: unknown) => {
        this.inflight = undefined;
        throw error;
      },
    );
    this.inflight = running;
    return running;
  }

  private async renew(): Promise<TlsMaterial> {
    this.lastAttempt = this.now();
    try {
      const { held, auth } = await this.obtain();
      const bundle = this.options.trustBundle?.current() ?? held.responseBundle;
      if (!bundle) throw new Error('no trust bundle: none is mounted and the control plane sent none');
      const material = this.buildMaterial(held, bundle);
      this.held = held;
      const now = this.now();
      this.consecutiveFailures = 0;
      this.backoffMs = undefined;
      this.lastError = undefined;
      this.successes++;
      this.lastRenewal = now;
      this.lastRenewalAuth = auth;
      this.expiryLogged = false;
      const delay = nextRenewalDelay(held.notBefore.getTime(), held.notAfter.getTime(), now, this.random, this.renewalPolicy);
      if (!this.stopped) this.scheduleAt(now + delay);
      if (!chainsToBundle(held.chain, bundle, new Date(now))) {
        // Possible for a while during a root rotation: the ConfigMap lags behind the CA.
        this.logger.warn(
          { event: 'identity_certificate_outside_trust_bundle', spiffeId: this.options.spiffeId, serial: held.serial },
          'the new certificate does not chain to the trust bundle in use; peers may refuse it until the bundle is updated',
        );
      }
      this.logger.info(
        {
          event: 'identity_certificate_issued',
          spiffeId: this.options.spiffeId,
          serial: held.serial,
          notAfter: held.notAfter.toISOString(),
          auth,
          nextRenewal: new Date(now + delay).toISOString(),
        },
        'workload certificate issued',
      );
      this.install(material);
      return material;
    } catch (error) {
      const now = this.now();
      this.consecutiveFailures++;
      this.failures++;
      this.lastError = describe(error);
      const delay = retryDelay(this.consecutiveFailures, this.random, this.backoffPolicy);
      this.backoffMs = delay;
      if (!this.stopped) this.scheduleAt(now + delay);
      const held = this.held;
      this.logger.warn(
        {
          event: 'identity_renewal_failed',
          spiffeId: this.options.spiffeId,
          reason: this.lastError,
          consecutiveFailures: this.consecutiveFailures,
          retryInMs: delay,
          certificateNotAfter: held?.notAfter.toISOString(),
        },
        held ? 'certificate renewal failed; serving the current certificate meanwhile' : 'could not obtain the first workload certificate',
      );
      if (held && now >= held.notAfter.getTime() && !this.expiryLogged) {
        this.expiryLogged = true;
        this.logger.error(
          { event: 'identity_certificate_expired', spiffeId: this.options.spiffeId, serial: held.serial, notAfter: held.notAfter.toISOString() },
          'the workload certificate has expired and could not be renewed; peers will refuse this workload',
        );
      }
      throw error instanceof Error ? error : new Error(String(error));
    }
  }

  private async obtain(): Promise<{ held: HeldCertificate; auth: RenewalAuth }> {
    const rootsPem = this.controlPlaneRoots();
    if (!rootsPem) throw new Error('no roots to verify the control plane with: no trust bundle is mounted yet and none was configured');
    const key = generateWorkloadKeyPair();
    const call: Omit<CertifyCall, 'token' | 'clientCertificate'> = {
      address: this.options.controlPlaneAddress,
      serverName: this.serverName,
      rootsPem,
      csr: createCsr(key.privateKey, key.publicKey, this.options.spiffeId),
      ttlSeconds: this.options.ttlSeconds ?? 0,
      timeoutMs: this.options.requestTimeoutMs ?? 10_000,
    };
    const held = this.held && this.now() < this.held.notAfter.getTime() ? this.held : undefined;

    let token: string | undefined;
    let tokenProblem: Error | undefined;
    try {
      token = await this.readToken();
    } catch (error) {
      tokenProblem = error as Error;
    }
    let response: CertifyResponse | undefined;
    if (token !== undefined) {
      try {
        response = await certify({ ...call, token });
      } catch (error) {
        if (!held || !isTokenRefusal(error)) throw error;
        this.logger.warn(
          { event: 'identity_token_refused', spiffeId: this.options.spiffeId, reason: describe(error) },
          'the control plane refused the token; renewing with the current certificate',
        );
      }
    } else if (!held) {
      throw tokenProblem ?? new Error('no token');
    } else {
      this.logger.warn(
        { event: 'identity_token_unreadable', spiffeId: this.options.spiffeId, reason: tokenProblem?.message },
        'the token cannot be read; renewing with the current certificate',
      );
    }
    if (response) return { held: this.accept(response, key.privateKey), auth: 'token' };
    response = await certify({ ...call, clientCertificate: { keyPem: held!.keyPem, chainPem: held!.chainPem } });
    return { held: this.accept(response, key.privateKey), auth: 'certificate' };
  }

  private async readToken(): Promise<string> {
    const path = this.options.tokenPath;
    let text: string;
    try {
      text = await readFile(path, 'utf8');
    } catch (error) {
      throw new Error(`cannot read the token file ${path}: ${(error as NodeJS.ErrnoException).code ?? (error as Error).message}`);
    }
    const token = text.trim();
    if (token === '') throw new Error(`the token file ${path} is empty`);
    return token;
  }

  /** Checks the answer before anything is built from it: a wrong certificate must not replace a good one. */
  private accept(response: CertifyResponse, privateKey: KeyObject): HeldCertificate {
    let chain: X509Certificate[];
    try {
      chain = decodePemAll(response.certificateChainPem, ['CERTIFICATE'], 'certificate chain').map((der) => new X509Certificate(der));
    } catch (error) {
      throw new Error(`the control plane sent an unreadable certificate chain: ${(error as Error).message}`);
    }
    const leaf = chain[0]!;
    if (!leaf.checkPrivateKey(privateKey)) throw new Error('the issued certificate does not carry the key of the request');
    const issuedId = readSpiffeId(leaf);
    if (issuedId !== this.options.spiffeId) throw new Error(`the issued certificate is for ${issuedId ?? 'no SPIFFE ID'}, expected ${this.options.spiffeId}`);
    for (let i = 0; i + 1 < chain.length; i++) {
      if (!chain[i]!.verify(chain[i + 1]!.publicKey)) throw new Error(`certificate #${i + 1} of the issued chain is not signed by the next one`);
    }
    if (leaf.validToDate.getTime() <= this.now()) throw new Error('the issued certificate has already expired');
    let responseBundle: TrustBundle | undefined;
    try {
      responseBundle = parseTrustBundle(response.trustBundlePem);
    } catch (error) {
      if (!this.options.trustBundle?.current()) throw new Error(`the control plane sent an unusable trust bundle: ${(error as Error).message}`);
    }
    return {
      keyPem: privateKey.export({ format: 'pem', type: 'pkcs8' }).toString(),
      chainPem: chain.map((c) => encodePem('CERTIFICATE', c.raw)).join(''),
      chain,
      serial: leaf.serialNumber,
      notBefore: leaf.validFromDate,
      notAfter: leaf.validToDate,
      responseBundle,
    };
  }

  private buildMaterial(held: HeldCertificate, bundle: TrustBundle): TlsMaterial {
    const secureContext = createMeshSecureContext({ keyPem: held.keyPem, certificateChainPem: held.chainPem, trustBundlePem: bundle.pem });
    return Object.freeze({
      spiffeId: this.options.spiffeId,
      secureContext,
      certificateChainPem: held.chainPem,
      trustBundlePem: bundle.pem,
      notBefore: held.notBefore,
      notAfter: held.notAfter,
      serial: held.serial,
    });
  }

  private install(material: TlsMaterial): void {
    this.material = material;
    for (const listener of this.listeners) {
      try {
        listener(material);
      } catch (error) {
        this.logger.error({ event: 'identity_listener_failed', err: error }, 'an identity change listener threw');
      }
    }
  }

  /** Same certificate, new CA list; and a renewal at once if the new roots no longer vouch for the certificate. */
  private onTrustBundle(bundle: TrustBundle): void {
    if (this.stopped) return;
    const held = this.held;
    if (!held) {
      // Still waiting for the first certificate, perhaps for want of roots to check the
      // control plane with: try at once rather than at the end of the backoff.
      if (this.started && !this.inflight) this.runAttempt();
      return;
    }
    try {
      this.install(this.buildMaterial(held, bundle));
    } catch (error) {
      this.logger.error({ event: 'identity_trust_bundle_apply_failed', reason: describe(error) }, 'could not apply the new trust bundle');
      return;
    }
    if (!chainsToBundle(held.chain, bundle, new Date(this.now()))) {
      this.logger.warn(
        { event: 'identity_certificate_outside_trust_bundle', spiffeId: this.options.spiffeId, serial: held.serial },
        'the trust bundle no longer covers the current certificate; renewing now',
      );
      this.runAttempt();
    }
  }

  private effectiveBundle(): TrustBundle | undefined {
    return this.options.trustBundle?.current() ?? this.held?.responseBundle;
  }

  private controlPlaneRoots(): string | undefined {
    return this.effectiveBundle()?.pem ?? this.options.controlPlaneRootsPem;
  }

  private scheduleAt(at: number): void {
    this.nextAttemptAt = at;
    this.arm();
  }

  private arm(): void {
    if (this.timer) clearTimeout(this.timer);
    this.timer = undefined;
    if (this.stopped || this.nextAttemptAt === undefined) return;
    const wait = Math.min(Math.max(this.nextAttemptAt - this.now(), 0), MAX_TIMER_MS);
    this.timer = setTimeout(() => this.onTimer(), wait);
  }

  private onTimer(): void {
    this.timer = undefined;
    if (this.stopped || this.nextAttemptAt === undefined) return;
    if (this.now() < this.nextAttemptAt) {
      this.arm();
      return;
    }
    this.runAttempt();
  }
}

function describe(error: unknown): string {
  if (isServiceError(error)) return `${grpcStatus[error.code] ?? error.code}: ${error.details}`;
  return error instanceof Error ? error.message : String(error);
}

function dateOrUndefined(ms: number | undefined): Date | undefined {
  return ms === undefined ? undefined : new Date(ms);
}
