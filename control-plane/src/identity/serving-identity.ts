import type * as grpc from '@grpc/grpc-js';

export interface ServingCertificate {
  chainPem: string;
  keyPem: string;
  notBefore: Date;
  notAfter: Date;
}

type CaListener = grpc.experimental.CaCertificateUpdateListener;
type IdentityListener = grpc.experimental.IdentityCertificateUpdateListener;

/**
 * The control plane's own TLS identity for :15012, issued by its CA and renewed at half
 * of its lifetime, plus the trust bundle client certificates are checked against. gRPC
 * picks up both through the CertificateProvider interface without a restart.
 */
export class ServingIdentity implements grpc.experimental.CertificateProvider {
  private readonly caListeners = new Set<CaListener>();
  private readonly identityListeners = new Set<IdentityListener>();
  private current: ServingCertificate;
  private trustBundle: string;
  private timer: NodeJS.Timeout | undefined;

  constructor(
    private readonly issue: () => ServingCertificate,
    trustBundlePem: string,
  ) {
    this.current = issue();
    this.trustBundle = trustBundlePem;
  }

  get certificate(): ServingCertificate {
    return this.current;
  }

  /** Renews at half-life; on failure tries again in a few seconds, serving the old one meanwhile. */
  startRenewal(onError: (error: unknown) => void): void {
    const halfLife = (this.current.notAfter.getTime() - this.current.notBefore.getTime()) / 2;
    const due = this.current.notBefore.getTime() + halfLife - Date.now();
    this.schedule(Math.max(1000, due), onError);
  }

  stop(): void {
    if (this.timer) clearTimeout(this.timer);
    this.timer = undefined;
  }

  renew(): void {
    this.current = this.issue();
    for (const listener of this.identityListeners) listener(this.identityUpdate());
  }

  updateTrustBundle(trustBundlePem: string): void {
    if (trustBundlePem === this.trustBundle) return;
    this.trustBundle = trustBundlePem;
    for (const listener of this.caListeners) listener({ caCertificate: Buffer.from(this.trustBundle) });
  }

  addCaCertificateListener(listener: CaListener): void {
    this.caListeners.add(listener);
    // grpc-js registers its own watcher only after adding ours; an update delivered
    // synchronously here would never reach the server, which would then drop every connection.
    queueMicrotask(() => {
      if (this.caListeners.has(listener)) listener({ caCertificate: Buffer.from(this.trustBundle) });
    });
  }

  removeCaCertificateListener(listener: CaListener): void {
    this.caListeners.delete(listener);
  }

  addIdentityCertificateListener(listener: IdentityListener): void {
    this.identityListeners.add(listener);
    queueMicrotask(() => {
      if (this.identityListeners.has(listener)) listener(this.identityUpdate());
    });
  }

  removeIdentityCertificateListener(listener: IdentityListener): void {
    this.identityListeners.delete(listener);
  }

  private identityUpdate(): grpc.experimental.IdentityCertificateUpdate {
    return { certificate: Buffer.from(this.current.chainPem), privateKey: Buffer.from(this.current.keyPem) };
  }

  private schedule(delayMs: number, onError: (error: unknown) => void): void {
    this.timer = setTimeout(() => {
      try {
        this.renew();
        this.startRenewal(onError);
      } catch (error) {
        onError(error);
        this.schedule(5000, onError);
      }
    }, delayMs);
    this.timer.unref();
  }
}
