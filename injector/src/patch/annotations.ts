// Every label and annotation the injector reads or writes. The annotation parsers reject
// what reseal-init or reseal-proxy would reject later, so a typo is refused at admission
// (naming the annotation) instead of leaving a pod stuck in Init:CrashLoopBackOff.

import { parseCidr } from './cidr.js';
import { parseCpuQuantity, parseMemoryQuantity, type Quantity } from './resource-quantity.js';

/** Namespace label that opts a namespace in; the same key with value `disabled` on a pod opts it out. */
export const INJECT_LABEL = 'reseal.dev/inject';
export const INJECT_ENABLED = 'enabled';
export const INJECT_DISABLED = 'disabled';
/** The discovery service's mark of a meshed pod (control-plane discovery MESHED_LABEL). */
export const MESHED_LABEL = 'reseal.dev/meshed';

export const ANNOTATIONS = {
  injectMode: 'reseal.dev/inject-mode',
  mtlsMode: 'reseal.dev/mtls-mode',
  skipInboundPorts: 'reseal.dev/skip-inbound-ports',
  skipOutboundPorts: 'reseal.dev/skip-outbound-ports',
  skipOutboundCidrs: 'reseal.dev/skip-outbound-cidrs',
  proxyCpu: 'reseal.dev/proxy-cpu',
  proxyMemory: 'reseal.dev/proxy-memory',
  proxyCpuLimit: 'reseal.dev/proxy-cpu-limit',
  proxyMemoryLimit: 'reseal.dev/proxy-memory-limit',
  logLevel: 'reseal.dev/log-level',
  /** Written by the injector: the Reseal version that injected the pod. */
  injectedVersion: 'reseal.dev/injected-version',
  /** Written by the injector: sha256 (hex) of the trust bundle the pod was injected under. */
  trustRootHash: 'reseal.dev/trust-root-hash',
} as const;

export type InjectMode = 'full' | 'ingress';
export const LOG_LEVELS = ['trace', 'debug', 'info', 'warn', 'error', 'fatal', 'silent'] as const;
export type LogLevel = (typeof LOG_LEVELS)[number];

/** An annotation the injector cannot honour; the webhook denies the pod with this message. */
export class AnnotationError extends Error {
  override readonly name = 'AnnotationError';
  constructor(
    readonly annotation: string,
    readonly value: string,
    reason: string,
  ) {
    super(`annotation ${annotation}: ${JSON.stringify(value.length > 100 ? `${value.slice(0, 100)}...` : value)} ${reason}`);
  }
}

export interface PodAnnotationSettings {
  injectMode: InjectMode | undefined;
  skipInboundPorts: number[];
  skipOutboundPorts: number[];
  skipOutboundCidrs: string[];
  proxyCpu: Quantity | undefined;
  proxyMemory: Quantity | undefined;
  proxyCpuLimit: Quantity | undefined;
  proxyMemoryLimit: Quantity | undefined;
  logLevel: LogLevel | undefined;
}

export function parsePodAnnotations(annotations: Readonly<Record<string, string>>): PodAnnotationSettings {
  const get = (key: string): string | undefined => {
    const value = annotations[key];
    return value === undefined || value.trim() === '' ? undefined : value;
  };
  const mtls = get(ANNOTATIONS.mtlsMode);
  // The control plane reads this one; it falls back to STRICT on nonsense, which would
  // surprise whoever asked for PERMISSIVE, so refuse it here where the author sees it.
  if (mtls !== undefined && !['STRICT', 'PERMISSIVE'].includes(mtls.trim().toUpperCase())) {
    throw new AnnotationError(ANNOTATIONS.mtlsMode, mtls, 'must be STRICT or PERMISSIVE');
  }
  return {
    injectMode: oneOf(ANNOTATIONS.injectMode, get(ANNOTATIONS.injectMode), ['full', 'ingress'] as const),
    skipInboundPorts: ports(ANNOTATIONS.skipInboundPorts, get(ANNOTATIONS.skipInboundPorts)),
    skipOutboundPorts: ports(ANNOTATIONS.skipOutboundPorts, get(ANNOTATIONS.skipOutboundPorts)),
    skipOutboundCidrs: list(ANNOTATIONS.skipOutboundCidrs, get(ANNOTATIONS.skipOutboundCidrs)).map((item) => {
      try {
        return parseCidr(item);
      } catch (error) {
        throw new AnnotationError(ANNOTATIONS.skipOutboundCidrs, annotations[ANNOTATIONS.skipOutboundCidrs] ?? '', (error as Error).message);
      }
    }),
    proxyCpu: quantity(ANNOTATIONS.proxyCpu, get(ANNOTATIONS.proxyCpu), parseCpuQuantity),
    proxyMemory: quantity(ANNOTATIONS.proxyMemory, get(ANNOTATIONS.proxyMemory), parseMemoryQuantity),
    proxyCpuLimit: quantity(ANNOTATIONS.proxyCpuLimit, get(ANNOTATIONS.proxyCpuLimit), parseCpuQuantity),
    proxyMemoryLimit: quantity(ANNOTATIONS.proxyMemoryLimit, get(ANNOTATIONS.proxyMemoryLimit), parseMemoryQuantity),
    logLevel: oneOf(ANNOTATIONS.logLevel, get(ANNOTATIONS.logLevel)?.toLowerCase(), LOG_LEVELS),
  };
}

function oneOf<T extends string>(annotation: string, value: string | undefined, allowed: readonly T[]): T | undefined {
  if (value === undefined) return undefined;
  const trimmed = value.trim();
  if (!(allowed as readonly string[]).includes(trimmed)) throw new AnnotationError(annotation, value, `must be one of ${allowed.join(', ')}`);
  return trimmed as T;
}

function list(annotation: string, value: string | undefined): string[] {
  if (value === undefined) return [];
  const items = value.split(',').map((item) => item.trim());
  if (items.some((item) => item === '')) throw new AnnotationError(annotation, value, 'has an empty item (expected a comma-separated list)');
  return [...new Set(items)];
}

function ports(annotation: string, value: string | undefined): number[] {
  return [
    ...new Set(
      list(annotation, value).map((item) => {
        const n = /^[0-9]{1,5}$/.test(item) ? Number(item) : NaN;
        if (!(n >= 1 && n <= 65535)) throw new AnnotationError(annotation, value ?? '', `has "${item}", which is not a port number 1-65535`);
        return n;
      }),
    ),
  ];
}

function quantity(annotation: string, value: string | undefined, parse: (text: string) => Quantity): Quantity | undefined {
  if (value === undefined) return undefined;
  try {
    return parse(value.trim());
  } catch (error) {
    throw new AnnotationError(annotation, value, (error as Error).message);
  }
}
