import { AdmissionregistrationV1Api, CoreV1Api, PatchStrategy, setHeaderOptions, type KubeConfig, type V1Secret } from '@kubernetes/client-node';
import type { Logger } from 'pino';
import { serviceDnsNames, type CertificateAuthority } from '../ca/index.js';
import { httpStatusOf } from '../kubernetes/api-errors.js';
import { caBundlePatch } from './ca-bundle-patch.js';
import { assessServingSecret, encodeData, issueServingSecretData, WEBHOOK_SECRET_TYPE } from './webhook-serving-secret.js';

export interface WebhookCertificateOptions {
  kubeConfig: KubeConfig;
  /** Where the Secret and the Service are: the mesh's own namespace. */
  namespace: string;
  /** The MutatingWebhookConfiguration whose caBundle is kept equal to the trust bundle. */
  configurationName: string;
  /** kubernetes.io/tls Secret the injector mounts and hot-reloads. */
  secretName: string;
  /** The injector's Service; the certificate names `<service>.<namespace>.svc` and variants. */
  serviceName: string;
  ttlSeconds: number;
  /** The CA in use now; it is replaced when the CA Secret changes. */
  ca: () => CertificateAuthority;
  logger: Logger;
  /** How often both are checked; also the retry delay after a failure. Default 5 000 ms. */
  resyncMs?: number;
}

const MANAGED_BY = { 'app.kubernetes.io/managed-by': 'reseal-control-plane' };

/**
 * Keeps the admission webhook's TLS in order while this replica leads: a serving
 * certificate from the mesh CA in the injector's Secret, renewed at half-life, and the
 * configuration's caBundle equal to the mesh trust bundle. Polls instead of watching so
 * that RBAC can be limited to get/patch of the one configuration and get/update of the one
 * Secret. Every write is conditional on what was read; a conflict is settled next round.
 */
export class WebhookCertificatePublisher {
  private readonly core: CoreV1Api;
  private readonly admission: AdmissionregistrationV1Api;
  private readonly dnsNames: string[];
  private readonly resyncMs: number;
  private running = false;
  private timer: NodeJS.Timeout | undefined;
  private inFlight: Promise<void> | undefined;
  private again = false;
  /** Last problem logged per step, so a persistent one is logged once rather than every few seconds. */
  private readonly reported = new Map<string, string>();

  constructor(private readonly options: WebhookCertificateOptions) {
    this.core = options.kubeConfig.makeApiClient(CoreV1Api);
    this.admission = options.kubeConfig.makeApiClient(AdmissionregistrationV1Api);
    this.dnsNames = serviceDnsNames(options.serviceName, options.namespace);
    this.resyncMs = options.resyncMs ?? 5000;
  }

  /** Begins reconciling (on becoming leader). */
  start(): void {
    if (this.running) return;
    this.running = true;
    this.reported.clear();
    this.trigger();
  }

  /** Stops reconciling (on losing leadership); settles once no write is in flight. */
  async stop(): Promise<void> {
    this.running = false;
    if (this.timer) clearTimeout(this.timer);
    this.timer = undefined;
    await this.inFlight;
  }

  /** The CA or its roots changed: re-check now rather than at the next resync. */
  caChanged(): void {
    if (this.running) this.trigger();
  }

  /** One reconciliation at a time; a trigger during one runs another right after it. */
  private trigger(): void {
    if (this.inFlight) {
      this.again = true;
      return;
    }
    if (this.timer) clearTimeout(this.timer);
    this.timer = undefined;
    this.inFlight = this.reconcile().finally(() => {
      this.inFlight = undefined;
      if (!this.running) return;
      if (this.again) {
        this.again = false;
        this.trigger();
        return;
      }
      this.timer = setTimeout(() => this.trigger(), this.resyncMs);
      this.timer.unref();
    });
  }

  private async reconcile(): Promise<void> {
    const ca = this.options.ca();
    // caBundle first: during a root rotation the API server must trust the new root before
    // the injector presents a certificate issued under it.
    await this.step('ca_bundle', () => this.reconcileCaBundle(ca.trustBundlePem));
    if (!this.running) return;
    await this.step('secret', () => this.reconcileSecret(ca));
  }

  /** `fn` resolves false when it found (and reported) a lasting problem rather than success. */
  private async step(name: string, fn: () => Promise<boolean>): Promise<void> {
    try {
      if (await fn()) this.reported.delete(name);
    } catch (error) {
      const status = httpStatusOf(error);
      // 409 (Secret changed since read) and 422 (a patch `test` failed: the configuration
      // changed since read) are races with another writer; the next round reads afresh.
      if (status === 409 || status === 422) return;
      this.report(name, 'warn', `failed:${status ?? 'network'}`, { event: 'webhook_certificate_error', step: name, err: error }, 'could not reconcile the webhook certificate');
    }
  }

  private async reconcileCaBundle(trustBundlePem: string): Promise<boolean> {
    const name = this.options.configurationName;
    let configuration;
    try {
      configuration = await this.admission.readMutatingWebhookConfiguration({ name });
    } catch (error) {
      if (httpStatusOf(error) !== 404) throw error;
      this.report('ca_bundle', 'warn', 'missing', { event: 'webhook_configuration_missing', configuration: name }, 'MutatingWebhookConfiguration not found; will patch its caBundle once it exists');
      return false;
    }
    const patch = caBundlePatch(configuration, trustBundlePem);
    if (patch.length === 0) return true;
    await this.admission.patchMutatingWebhookConfiguration({ name, body: patch }, setHeaderOptions('Content-Type', PatchStrategy.JsonPatch));
    this.options.logger.info({ event: 'webhook_ca_bundle_patched', configuration: name, webhooks: patch.length / 2 }, 'patched the webhook caBundle to the mesh trust bundle');
    return true;
  }

  private async reconcileSecret(ca: CertificateAuthority): Promise<boolean> {
    const { namespace, secretName: name, ttlSeconds, logger } = this.options;
    const existing = await this.readSecret();
    const assessment = assessServingSecret(existing, { dnsNames: this.dnsNames, trustBundlePem: ca.trustBundlePem, now: new Date() });
    if (assessment.action === 'keep') return true;
    const secret = `${namespace}/${name}`;
    if (assessment.action === 'update-bundle') {
      // Replace, not patch: the read resourceVersion makes a concurrent writer's change win.
      await this.core.replaceNamespacedSecret({ name, namespace, body: { ...existing!, data: { ...existing!.data, ...encodeData({ 'ca.crt': ca.trustBundlePem }) } } });
      logger.info({ event: 'webhook_secret_bundle_updated', secret }, 'updated ca.crt of the webhook Secret');
      return true;
    }
    // A Secret of another type cannot be changed into kubernetes.io/tls in place (type is
    // immutable); say so instead of failing the same way every few seconds.
    if (existing && existing.type !== WEBHOOK_SECRET_TYPE) {
      this.report('secret', 'error', 'wrong-type', { event: 'webhook_secret_wrong_type', secret, type: existing.type }, `the webhook Secret must be of type ${WEBHOOK_SECRET_TYPE}; delete it so the control plane can recreate it`);
      return false;
    }
    const issued = issueServingSecretData(ca, this.dnsNames, ttlSeconds);
    if (existing) {
      await this.core.replaceNamespacedSecret({ name, namespace, body: { ...existing, data: { ...existing.data, ...issued.data } } });
    } else {
      await this.core.createNamespacedSecret({
        namespace,
        body: { metadata: { name, namespace, labels: MANAGED_BY }, type: WEBHOOK_SECRET_TYPE, data: issued.data },
      });
    }
    logger.info(
      { event: 'webhook_certificate_issued', secret, reason: assessment.reason, dnsNames: this.dnsNames, notAfter: issued.notAfter.toISOString(), renewAt: issued.renewAt.toISOString() },
      'issued the webhook serving certificate',
    );
    return true;
  }

  private async readSecret(): Promise<V1Secret | undefined> {
    try {
      return await this.core.readNamespacedSecret({ name: this.options.secretName, namespace: this.options.namespace });
    } catch (error) {
      if (httpStatusOf(error) === 404) return undefined;
      throw error;
    }
  }

  private report(step: string, level: 'warn' | 'error', kind: string, fields: Record<string, unknown>, message: string): void {
    if (this.reported.get(step) === kind) return;
    this.reported.set(step, kind);
    this.options.logger[level](fields, message);
  }
}
