// The containers and volumes the injector adds. Their env and flags are the contract with
// sidecar/src/config.ts (parseProxyConfig) and sidecar/src/capture/parse-init-flags.ts.

import { isIP } from 'node:net';
import type { InjectMode, LogLevel } from './annotations.js';
import { ADMIN_PORT, INBOUND_PORT, OUTBOUND_PORT, PROXY_UID, type InjectContext } from './inject-context.js';
import type { AppProbes } from './probe-rewrite.js';
import type { JsonObject } from './pod-shape.js';

export const INIT_CONTAINER_NAME = 'reseal-init';
export const PROXY_CONTAINER_NAME = 'reseal-proxy';

export const VOLUMES = {
  token: 'reseal-token',
  trustBundle: 'reseal-trust-bundle',
  identity: 'reseal-identity',
  tmp: 'reseal-tmp',
} as const;

export const TOKEN_AUDIENCE = 'reseal';
export const TOKEN_EXPIRATION_SECONDS = 3600;
export const TOKEN_DIR = '/var/run/secrets/reseal';
export const TRUST_BUNDLE_CONFIGMAP = 'reseal-trust-bundle';
export const TRUST_BUNDLE_KEY = 'ca-bundle.pem';
export const TRUST_BUNDLE_DIR = '/var/run/reseal/trust-bundle';
export const IDENTITY_DIR = '/var/run/reseal/identity';

export interface CaptureSettings {
  readonly mode: InjectMode;
  readonly skipInboundPorts: readonly number[];
  readonly skipOutboundPorts: readonly number[];
  readonly skipOutboundCidrs: readonly string[];
}

export interface ProxyResources {
  readonly requests: { readonly cpu: string; readonly memory: string };
  readonly limits: { readonly cpu: string; readonly memory: string };
}

// Each container gets its own object: a patch is serialised, and a YAML writer would turn a
// shared one into an anchor and alias.
function copyResources(resources: ProxyResources): ProxyResources {
  return { requests: { ...resources.requests }, limits: { ...resources.limits } };
}

/** reseal-init's command line (sidecar parse-init-flags.ts). */
export function initArgs(capture: CaptureSettings): string[] {
  const args = [
    `--proxy-uid=${PROXY_UID}`,
    `--inbound-port=${INBOUND_PORT}`,
    `--outbound-port=${OUTBOUND_PORT}`,
    `--admin-port=${ADMIN_PORT}`,
    `--mode=${capture.mode}`,
  ];
  if (capture.skipInboundPorts.length > 0) args.push(`--skip-inbound-ports=${capture.skipInboundPorts.join(',')}`);
  if (capture.skipOutboundPorts.length > 0) args.push(`--skip-outbound-ports=${capture.skipOutboundPorts.join(',')}`);
  if (capture.skipOutboundCidrs.length > 0) args.push(`--skip-outbound-cidrs=${capture.skipOutboundCidrs.join(',')}`);
  return args;
}

export function initContainer(context: InjectContext, capture: CaptureSettings, resources: ProxyResources): JsonObject {
  return {
    name: INIT_CONTAINER_NAME,
    image: context.images.init,
    imagePullPolicy: context.imagePullPolicy,
    command: ['reseal-init'],
    args: initArgs(capture),
    resources: copyResources(resources),
    // iptables needs root with NET_ADMIN/NET_RAW in the pod's network namespace, nothing
    // more; it writes its lock file under /run, hence no read-only root here.
    securityContext: {
      runAsUser: 0,
      runAsGroup: 0,
      runAsNonRoot: false,
      privileged: false,
      allowPrivilegeEscalation: false,
      readOnlyRootFilesystem: false,
      capabilities: { add: ['NET_ADMIN', 'NET_RAW'], drop: ['ALL'] },
    },
    terminationMessagePolicy: 'FallbackToLogsOnError',
  };
}

export interface ProxySettings {
  readonly mode: InjectMode;
  readonly logLevel: LogLevel;
  readonly appProbes: AppProbes;
  readonly resources: ProxyResources;
}

function fieldEnv(name: string, fieldPath: string): JsonObject {
  return { name, valueFrom: { fieldRef: { apiVersion: 'v1', fieldPath } } };
}

/** The TLS server name the proxy checks on the control plane: the address's host, unless it is an IP. */
function controlPlaneServerName(address: string): string | undefined {
  const host = address.replace(/:\d+$/, '').replace(/^\[(.*)\]$/, '$1');
  return host === '' || isIP(host) ? undefined : host;
}

function proxyEnv(context: InjectContext, settings: ProxySettings): JsonObject[] {
  const serverName = controlPlaneServerName(context.controlPlaneAddress);
  const env: JsonObject[] = [
    fieldEnv('POD_NAMESPACE', 'metadata.namespace'),
    fieldEnv('POD_NAME', 'metadata.name'),
    fieldEnv('POD_IP', 'status.podIP'),
    fieldEnv('SERVICE_ACCOUNT', 'spec.serviceAccountName'),
    { name: 'RESEAL_CONTROL_PLANE_ADDRESS', value: context.controlPlaneAddress },
    ...(serverName ? [{ name: 'RESEAL_CONTROL_PLANE_NAME', value: serverName }] : []),
    { name: 'RESEAL_TRUST_DOMAIN', value: context.trustDomain },
    { name: 'RESEAL_TOKEN_FILE', value: `${TOKEN_DIR}/token` },
    { name: 'RESEAL_TRUST_BUNDLE_FILE', value: `${TRUST_BUNDLE_DIR}/${TRUST_BUNDLE_KEY}` },
    { name: 'RESEAL_CERT_TTL_SECONDS', value: String(context.defaults.certTtlSeconds) },
    { name: 'RESEAL_INJECT_MODE', value: settings.mode },
    { name: 'RESEAL_DRAIN_SECONDS', value: String(context.defaults.drainSeconds) },
    { name: 'LOG_LEVEL', value: settings.logLevel },
  ];
  if (Object.keys(settings.appProbes).length > 0) env.push({ name: 'RESEAL_APP_PROBES', value: JSON.stringify(settings.appProbes) });
  return env;
}

function adminProbe(path: string, periodSeconds: number, failureThreshold: number): JsonObject {
  return { httpGet: { path, port: ADMIN_PORT, scheme: 'HTTP' }, periodSeconds, timeoutSeconds: 3, failureThreshold };
}

// Run by kubelet right after it starts the proxy in containers[0]; kubelet starts the next
// container only when the hook returns, so the app never runs before the proxy is ready.
// Node is in the sidecar image already; the script gives up (and kubelet restarts the
// proxy) after the same time the native sidecar's startup probe allows.
function waitForReadyScript(seconds: number): string {
  return (
    `const http=require('node:http');const deadline=Date.now()+${seconds * 1000};` +
    `function retry(){if(Date.now()>deadline){console.error('reseal-proxy not ready after ${seconds}s');process.exit(1)}setTimeout(poll,250)}` +
    `function poll(){http.get({host:'127.0.0.1',port:${ADMIN_PORT},path:'/ready',timeout:1000},(r)=>{r.resume();if(r.statusCode===200)process.exit(0);retry()}).on('error',retry).on('timeout',function(){this.destroy()})}` +
    `poll()`
  );
}

/**
 * The proxy. Native (>= 1.29): an init container with restartPolicy Always, started before
 * the app's init containers and kept running; its startup probe holds back everything after
 * it until it has an identity. Fallback: a regular container placed first, with a
 * postStart hook that waits for /ready.
 */
export function proxyContainer(context: InjectContext, settings: ProxySettings): JsonObject {
  const startupPeriod = 1;
  const container: JsonObject = {
    name: PROXY_CONTAINER_NAME,
    image: context.images.proxy,
    imagePullPolicy: context.imagePullPolicy,
    command: ['reseal-proxy'],
    ports: [{ name: 'reseal-admin', containerPort: ADMIN_PORT, protocol: 'TCP' }],
    env: proxyEnv(context, settings),
    resources: copyResources(settings.resources),
    securityContext: {
      runAsUser: PROXY_UID,
      runAsGroup: PROXY_UID,
      runAsNonRoot: true,
      readOnlyRootFilesystem: true,
      allowPrivilegeEscalation: false,
      privileged: false,
      capabilities: { drop: ['ALL'] },
    },
    volumeMounts: [
      { name: VOLUMES.token, mountPath: TOKEN_DIR, readOnly: true },
      { name: VOLUMES.trustBundle, mountPath: TRUST_BUNDLE_DIR, readOnly: true },
      { name: VOLUMES.identity, mountPath: IDENTITY_DIR },
      { name: VOLUMES.tmp, mountPath: '/tmp' },
    ],
    readinessProbe: adminProbe('/ready', 5, 3),
    livenessProbe: adminProbe('/live', 10, 3),
    terminationMessagePolicy: 'FallbackToLogsOnError',
  };
  if (context.nativeSidecars) {
    container.restartPolicy = 'Always';
    container.startupProbe = adminProbe('/ready', startupPeriod, Math.ceil(context.defaults.startupSeconds / startupPeriod));
  } else {
    container.lifecycle = { postStart: { exec: { command: ['node', '-e', waitForReadyScript(context.defaults.startupSeconds)] } } };
  }
  return container;
}

export function sidecarVolumes(): JsonObject[] {
  return [
    {
      name: VOLUMES.token,
      projected: { sources: [{ serviceAccountToken: { audience: TOKEN_AUDIENCE, expirationSeconds: TOKEN_EXPIRATION_SECONDS, path: 'token' } }] },
    },
    { name: VOLUMES.trustBundle, configMap: { name: TRUST_BUNDLE_CONFIGMAP, items: [{ key: TRUST_BUNDLE_KEY, path: TRUST_BUNDLE_KEY }] } },
    // The identity never touches a disk: memory-backed, and small enough to not matter.
    { name: VOLUMES.identity, emptyDir: { medium: 'Memory', sizeLimit: '1Mi' } },
    // A writable /tmp for the runtime (tsx's compile cache) under a read-only root filesystem.
    { name: VOLUMES.tmp, emptyDir: { sizeLimit: '64Mi' } },
  ];
}
