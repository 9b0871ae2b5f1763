import { randomUUID, X509Certificate } from 'node:crypto';
import { createTelemetry, generateWorkloadKeyPair, startAdminServer, workloadSpiffeId } from '@reseal/core';
import type { TelemetryOptions } from '@reseal/core';
import type { KubeConfig } from '@kubernetes/client-node';
import type { Logger } from 'pino';
import { loadOrCreateCaInDirectory } from './ca/ca-directory-store.js';
import { loadOrCreateCa, watchCaSecret } from './ca/ca-secret-store.js';
import { CertificateAuthority } from './ca/certificate-authority.js';
import type { ControlPlaneConfig } from './config.js';
import { MAX_DISCOVERY_MESSAGE_BYTES, startDiscovery, type Discovery } from './discovery/discovery.js';
import type { TokenAuthenticator } from './identity/caller.js';
import { CertifyService, type SvidIssuer } from './identity/certify-service.js';
import { startIdentityServer } from './identity/identity-server.js';
import { RateLimiter } from './identity/rate-limiter.js';
import { ServingIdentity } from './identity/serving-identity.js';
import { IssuedCertificateLog, startStatusPage } from './status-page/index.js';
import { StaticTokenAuthenticator } from './identity/static-token-authenticator.js';
import { TokenReviewAuthenticator } from './identity/token-review-authenticator.js';
import { LeaseElector, type LeaseElectorOptions } from './leader-election/lease-elector.js';
import { ControlPlaneMetrics } from './telemetry/control-plane-metrics.js';
import { TrustBundlePublisher } from './trust-bundle/trust-bundle-publisher.js';
import { WebhookCertificatePublisher } from './webhook-certificate/webhook-certificate-publisher.js';

export interface RunningControlPlane {
  readonly identityPort: number;
  readonly adminPort: number;
  /** Discovery/Watch, served on the identity port. */
  readonly discovery: Discovery;
  /** The CA in use now; replaced when its Secret changes. */
  ca(): CertificateAuthority;
  /** Kubernetes mode with the webhook certificate enabled: this replica's Lease identity and whether it leads. */
  leadership(): { identity: string; leading: boolean } | undefined;
  stop(): Promise<void>;
}

export interface ControlPlaneDeps {
  logger: Logger;
  /** Required in Kubernetes mode. */
  kubeConfig?: KubeConfig;
  /** How often the CA Secret is re-read; tests shorten it. */
  caPollIntervalMs?: number;
  trustBundleResyncMs?: number;
  /** Leader-election timings; tests shorten them. */
  leaderElection?: Pick<LeaseElectorOptions, 'leaseDurationSeconds' | 'renewIntervalMs' | 'renewDeadlineMs' | 'retryIntervalMs'>;
  /** How often the leader re-checks the webhook Secret and caBundle; tests shorten it. */
  webhookResyncMs?: number;
  /** OTLP push of metrics (main.ts reads OTEL_EXPORTER_OTLP_ENDPOINT); Prometheus only without. */
  telemetry?: TelemetryOptions;
}

const SERVING_TTL_SECONDS = 24 * 3600;

export async function startControlPlane(config: ControlPlaneConfig, deps: ControlPlaneDeps): Promise<RunningControlPlane> {
  const { logger } = deps;
  const stops: (() => Promise<void> | void)[] = [];
  let ca: CertificateAuthority;
  let tokens: TokenAuthenticator;
  let publisher: TrustBundlePublisher | undefined;
  let webhookCertificates: WebhookCertificatePublisher | undefined;
  let elector: LeaseElector | undefined;
  // Set once discovery runs; the CA watcher may fire before that.
  let discovery: Discovery | undefined = undefined;
  const meshNamespace = config.mode.kind === 'kubernetes' ? config.mode.namespace : 'reseal-system';
  // First, so that the CA watcher and the publisher below can report from their start.
  const telemetry = createTelemetry('reseal-control-plane', deps.telemetry);
  stops.push(() => telemetry.shutdown());
  const metrics = new ControlPlaneMetrics(telemetry.meter, () => {
    // A collection may run while the CA is still loading below.
    const current = ca as CertificateAuthority | undefined;
    return current === undefined ? undefined : { rootNotAfter: current.rootNotAfter, issuerNotAfter: current.issuerNotAfter };
  });

  if (config.mode.kind === 'kubernetes') {
    const kubeConfig = deps.kubeConfig;
    if (!kubeConfig) throw new Error('Kubernetes mode needs a kubeconfig');
    const ref = { namespace: config.mode.namespace, name: config.mode.caSecretName, trustDomain: config.trustDomain };
    const loaded = await loadOrCreateCa(kubeConfig, ref, logger);
    ca = loaded.ca;
    metrics.caLoaded(ca.rootCertificates.length);
    tokens = new TokenReviewAuthenticator(kubeConfig, config.tokenAudience);
    metrics.watchTrustBundlePublishing();
    publisher = new TrustBundlePublisher(kubeConfig, ca.trustBundlePem, logger, deps.trustBundleResyncMs, (result) => metrics.trustBundlePublished(result));
    metrics.watchCaReloads();
    const watcher = watchCaSecret(kubeConfig, ref, loaded.resourceVersion, (next) => replaceCa(next), logger, deps.caPollIntervalMs, () => metrics.caReloaded('failed'));
    stops.push(() => watcher.stop());
    if (config.webhook) {
      webhookCertificates = new WebhookCertificatePublisher({
        kubeConfig,
        namespace: config.mode.namespace,
        configurationName: config.webhook.configurationName,
        secretName: config.webhook.secretName,
        serviceName: config.webhook.serviceName,
        ttlSeconds: config.webhook.certTtlSeconds,
        ca: () => ca,
        logger,
        resyncMs: deps.webhookResyncMs,
      });
    }
  } else {
    ca = config.mode.caDir ? loadOrCreateCaInDirectory(config.mode.caDir, config.trustDomain) : CertificateAuthority.generate({ trustDomain: config.trustDomain });
    metrics.caLoaded(ca.rootCertificates.length);
    tokens = StaticTokenAuthenticator.fromFile(config.mode.tokensFile);
  }

  const issued = new IssuedCertificateLog();
  let issuer = svidIssuerOf(ca, issued);
  const servingIdentity = new ServingIdentity(() => {
    const key = generateWorkloadKeyPair();
    const issued = ca.issueServingCertificate({
      publicKey: key.publicKey,
      dnsNames: config.servingDnsNames,
      spiffeId: workloadSpiffeId(config.trustDomain, meshNamespace, 'reseal-control-plane'),
      ttlSeconds: Math.min(SERVING_TTL_SECONDS, Math.floor((ca.issuerNotAfter.getTime() - Date.now()) / 1000)),
    });
    return {
      chainPem: issued.chainPem,
      keyPem: key.privateKey.export({ format: 'pem', type: 'pkcs8' }).toString(),
      notBefore: issued.notBefore,
      notAfter: issued.notAfter,
    };
  }, ca.trustBundlePem);
  servingIdentity.startRenewal((error) => logger.error({ event: 'serving_certificate_renewal_failed', err: error }, 'could not renew the serving certificate'));
  stops.push(() => servingIdentity.stop());

  function replaceCa(next: CertificateAuthority): void {
    ca = next;
    issuer = svidIssuerOf(next, issued);
    metrics.caLoaded(next.rootCertificates.length);
    metrics.caReloaded('ok');
    publisher?.update(next.trustBundlePem);
    discovery?.setTrustBundle(next.trustBundlePem);
    servingIdentity.updateTrustBundle(next.trustBundlePem);
    servingIdentity.renew();
    webhookCertificates?.caChanged();
  }

  const service = new CertifyService(
    { trustDomain: config.trustDomain, defaultTtlSeconds: config.defaultTtlSeconds, maxTtlSeconds: config.maxTtlSeconds },
    tokens,
    () => issuer,
    new RateLimiter(config.rateLimit.burst, config.rateLimit.perSecond),
    (outcome) => {
      if (outcome.result === 'issued') metrics.issued.add(1, { auth: outcome.auth });
      else metrics.refused.add(1, { reason: outcome.reason });
      metrics.issuanceSeconds.record(outcome.seconds, { result: outcome.result });
    },
  );
  const startedDiscovery = await startDiscovery({
    source: config.mode.kind === 'kubernetes' ? { kind: 'kubernetes', kubeConfig: deps.kubeConfig! } : { kind: 'standalone', topologyFile: config.mode.topologyFile },
    trustDomain: config.trustDomain,
    trustBundlePem: ca.trustBundlePem,
    tokens,
    trust: () => issuer,
    logger,
    hub: { onPushed: (seconds) => metrics.discoveryPushSeconds.record(seconds) },
  });
  discovery = startedDiscovery;
  metrics.observe({ certifyInFlight: () => service.inFlight, discoverySubscribers: () => startedDiscovery.hub.subscriberCount });
  const server = await startIdentityServer({
    host: config.listenHost,
    port: config.identityPort,
    service,
    servingIdentity,
    logger,
    additionalServices: [startedDiscovery.service],
    maxSendMessageBytes: MAX_DISCOVERY_MESSAGE_BYTES,
  }).catch(async (error: unknown) => {
    await startedDiscovery.stop();
    throw error;
  });
  stops.push(() => server.stop());
  const admin = await startAdminServer({ host: config.listenHost, port: config.adminPort, ready: () => startedDiscovery.hub.synced, metricsHandler: telemetry.metricsHandler });
  stops.push(() => admin.stop());
  if (config.mode.kind === 'standalone' && config.mode.statusPage) {
    const page = await startStatusPage({ host: config.listenHost, ...config.mode.statusPage, topologyFile: config.mode.topologyFile, trustDomain: config.trustDomain, ca: () => ca, certificates: issued, logger });
    stops.push(() => page.stop());
  }
  // Runs before the server's stop: open watches would otherwise hold its graceful shutdown.
  stops.push(() => startedDiscovery.stop());
  if (publisher) {
    await publisher.start();
    const started = publisher;
    stops.push(() => started.stop());
  }
  if (webhookCertificates && config.mode.kind === 'kubernetes') {
    // Every replica serves identity and discovery; only the Lease holder writes the webhook
    // Secret and caBundle, so replicas never undo each other's certificate.
    const certificates = webhookCertificates;
    const started = new LeaseElector({
      kubeConfig: deps.kubeConfig!,
      namespace: config.mode.namespace,
      leaseName: config.leaderElection.leaseName,
      identity: `${config.leaderElection.identity}_${randomUUID().slice(0, 8)}`,
      logger,
      ...deps.leaderElection,
      onStartedLeading: () => {
        metrics.leadershipChanged('acquired');
        certificates.start();
      },
      onStoppedLeading: () => {
        metrics.leadershipChanged('lost');
        return certificates.stop();
      },
    });
    metrics.observeLeadership(() => started.leading);
    started.start();
    elector = started;
    // Pushed last, so it runs first: the lease is released before the servers go away.
    stops.push(() => started.stop());
  }
  logger.info(
    {
      event: 'control_plane_started',
      mode: config.mode.kind,
      trustDomain: config.trustDomain,
      identityPort: server.port,
      rootNotAfter: ca.rootNotAfter.toISOString(),
      issuerNotAfter: ca.issuerNotAfter.toISOString(),
    },
    'control plane started',
  );
  return {
    identityPort: server.port,
    adminPort: admin.port,
    discovery: startedDiscovery,
    ca: () => ca,
    leadership: () => (elector ? { identity: elector.identity, leading: elector.leading } : undefined),
    stop: async () => {
      for (const stop of stops.reverse()) await stop();
    },
  };
}

function svidIssuerOf(ca: CertificateAuthority, issued: IssuedCertificateLog): SvidIssuer {
  const issuerChain = [ca.issuerCertificate, ...ca.intermediateCertificates];
  const trustRoots = ca.rootCertificates.map((root) => new X509Certificate(root.raw));
  return {
    issueWorkloadSvid: (request) => {
      const certificate = ca.issueWorkloadSvid(request);
      issued.record(request.spiffeId, certificate);
      return certificate;
    },
    trustBundlePem: ca.trustBundlePem,
    trustRoots,
    issuerChain,
  };
}
