// The environment of a container process, built the way kubelet and the container runtime
// build it together: image ENV, then the kubelet's own variables, then envFrom and env (with
// $(VAR) expansion against what came before), then HOSTNAME/HOME/PATH if still unset.
import type { V1ConfigMap, V1Container, V1Pod, V1Secret } from '@kubernetes/client-node';
import type { ImageSpec } from './image-table.js';
import { podFieldValue, type PodRuntimeFields } from './pod-fields.js';
import { expandVariables } from './variable-expansion.js';

export const DEFAULT_PATH = '/usr/local/sbin:/usr/local/bin:/usr/sbin:/usr/bin:/sbin:/bin';

export interface EnvContext extends PodRuntimeFields {
  apiServer: { host: string; port: number };
  configMap(namespace: string, name: string): V1ConfigMap | undefined;
  secret(namespace: string, name: string): V1Secret | undefined;
  /** The UID the process runs as, for HOME. */
  uid: number;
}

export type EnvResult = { ok: true; env: Record<string, string>; containerEnv: Record<string, string> } | { ok: false; reason: 'CreateContainerConfigError'; message: string };

function decodeSecretValue(secret: V1Secret, key: string): string | undefined {
  const data = secret.data?.[key];
  if (data !== undefined) return Buffer.from(data, 'base64').toString('utf8');
  return secret.stringData?.[key];
}

function configMapValue(cm: V1ConfigMap, key: string): string | undefined {
  const data = cm.data?.[key];
  if (data !== undefined) return data;
  const binary = cm.binaryData?.[key];
  return binary === undefined ? undefined : Buffer.from(binary, 'base64').toString('utf8');
}

export function resolveContainerEnv(pod: V1Pod, container: V1Container, image: ImageSpec, ctx: EnvContext): EnvResult {
  const namespace = pod.metadata?.namespace ?? 'default';
  const fail = (message: string): EnvResult => ({ ok: false, reason: 'CreateContainerConfigError', message });
  // what $(VAR) may refer to: the kubelet's service variables and earlier container variables
  const containerEnv: Record<string, string> = {
    KUBERNETES_SERVICE_HOST: ctx.apiServer.host,
    KUBERNETES_SERVICE_PORT: String(ctx.apiServer.port),
    KUBERNETES_SERVICE_PORT_HTTPS: String(ctx.apiServer.port),
    KUBERNETES_PORT: `tcp://${ctx.apiServer.host}:${ctx.apiServer.port}`,
  };

  for (const source of container.envFrom ?? []) {
    const prefix = source.prefix ?? '';
    if (source.configMapRef) {
      const cm = ctx.configMap(namespace, source.configMapRef.name ?? '');
      if (!cm) {
        if (source.configMapRef.optional) continue;
        return fail(`configmap "${source.configMapRef.name}" not found`);
      }
      for (const key of Object.keys({ ...cm.data, ...cm.binaryData })) containerEnv[prefix + key] = configMapValue(cm, key) ?? '';
    } else if (source.secretRef) {
      const secret = ctx.secret(namespace, source.secretRef.name ?? '');
      if (!secret) {
        if (source.secretRef.optional) continue;
        return fail(`secret "${source.secretRef.name}" not found`);
      }
      for (const key of Object.keys({ ...secret.data, ...secret.stringData })) containerEnv[prefix + key] = decodeSecretValue(secret, key) ?? '';
    }
  }

  for (const variable of container.env ?? []) {
    const from = variable.valueFrom;
    if (!from) {
      containerEnv[variable.name] = expandVariables(variable.value ?? '', containerEnv);
      continue;
    }
    if (from.fieldRef) {
      const value = podFieldValue(pod, from.fieldRef.fieldPath, ctx);
      if (value === undefined) return fail(`env ${variable.name}: unsupported fieldPath ${from.fieldRef.fieldPath}`);
      containerEnv[variable.name] = value;
    } else if (from.configMapKeyRef) {
      const ref = from.configMapKeyRef;
      const cm = ctx.configMap(namespace, ref.name ?? '');
      const value = cm ? configMapValue(cm, ref.key) : undefined;
      if (value === undefined) {
        if (ref.optional) continue;
        return fail(cm ? `couldn't find key ${ref.key} in ConfigMap ${namespace}/${ref.name}` : `configmap "${ref.name}" not found`);
      }
      containerEnv[variable.name] = value;
    } else if (from.secretKeyRef) {
      const ref = from.secretKeyRef;
      const secret = ctx.secret(namespace, ref.name ?? '');
      const value = secret ? decodeSecretValue(secret, ref.key) : undefined;
      if (value === undefined) {
        if (ref.optional) continue;
        return fail(secret ? `couldn't find key ${ref.key} in Secret ${namespace}/${ref.name}` : `secret "${ref.name}" not found`);
      }
      containerEnv[variable.name] = value;
    } else {
      return fail(`env ${variable.name}: unsupported valueFrom ${Object.keys(from).join(',')}`);
    }
  }

  const env: Record<string, string> = { ...image.env, ...containerEnv };
  env['HOSTNAME'] ??= (pod.metadata?.name ?? '').slice(0, 63);
  env['HOME'] ??= ctx.uid === 0 ? '/root' : '/';
  env['PATH'] ??= DEFAULT_PATH;
  return { ok: true, env, containerEnv };
}
