import type { V1MutatingWebhookConfiguration } from '@kubernetes/client-node';

export type JsonPatchOperation = { op: 'test' | 'add'; path: string; value: unknown };

/**
 * The JSON patch that sets `clientConfig.caBundle` of every webhook in the configuration to
 * the trust bundle; empty when all of them already carry it. Each change is guarded by a
 * `test` of the webhook's name at that index, so a configuration re-applied in between
 * (webhooks reordered, added, removed) makes the patch fail instead of writing the wrong entry.
 */
export function caBundlePatch(configuration: V1MutatingWebhookConfiguration, trustBundlePem: string): JsonPatchOperation[] {
  const caBundle = Buffer.from(trustBundlePem).toString('base64');
  const operations: JsonPatchOperation[] = [];
  (configuration.webhooks ?? []).forEach((webhook, index) => {
    if (webhook.clientConfig?.caBundle === caBundle) return;
    operations.push(
      { op: 'test', path: `/webhooks/${index}/name`, value: webhook.name },
      // `add` on an existing member replaces it, and creates it when it is absent.
      { op: 'add', path: `/webhooks/${index}/clientConfig/caBundle`, value: caBundle },
    );
  });
  return operations;
}
