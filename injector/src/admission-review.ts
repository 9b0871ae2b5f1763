// One AdmissionReview in, one AdmissionReview out. No I/O, so every odd input can be tested
// without a server; webhook-server.ts only moves bytes and records the outcome.

import { AnnotationError } from './patch/annotations.js';
import type { InjectContext } from './patch/inject-context.js';
import { injectPod, PodRejectedError } from './patch/inject-pod.js';
import { isObject, PodShapeError } from './patch/pod-shape.js';

export const ADMISSION_API_VERSION = 'admission.k8s.io/v1';

/**
 * injected: the answer carries a patch; skipped: allowed untouched by design (opt-out,
 * hostNetwork, already injected, mesh namespace); denied: the pod asks for something the
 * injector refuses (bad annotation); error: the request itself was wrong or the injector
 * failed.
 */
export type AdmissionResult = 'injected' | 'skipped' | 'denied' | 'error';

export interface AdmissionResponseBody {
  uid: string;
  allowed: boolean;
  patchType?: 'JSONPatch';
  patch?: string;
  status?: { code: number; message: string };
}

export interface AdmissionReviewAnswer {
  apiVersion: typeof ADMISSION_API_VERSION;
  kind: 'AdmissionReview';
  response: AdmissionResponseBody;
}

export interface AdmissionOutcome {
  readonly answer: AdmissionReviewAnswer;
  readonly result: AdmissionResult;
  /** For the log line: why skipped, denied or failed. */
  readonly reason: string | undefined;
  readonly uid: string | undefined;
  readonly namespace: string | undefined;
  /** The pod's name, or its generateName followed by `*`. */
  readonly pod: string | undefined;
  readonly patchOperations: number;
  /** An unexpected exception, to be logged with its stack; never sent back. */
  readonly internalError?: unknown;
}

interface Identity {
  uid: string | undefined;
  namespace: string | undefined;
  pod: string | undefined;
}

function answer(uid: string | undefined, allowed: boolean, status?: { code: number; message: string }, patch?: string): AdmissionReviewAnswer {
  const response: AdmissionResponseBody = { uid: uid ?? '', allowed };
  if (patch !== undefined) {
    response.patchType = 'JSONPatch';
    response.patch = patch;
  }
  if (status) response.status = status;
  return { apiVersion: ADMISSION_API_VERSION, kind: 'AdmissionReview', response };
}

function outcome(id: Identity, result: AdmissionResult, allowed: boolean, reason: string | undefined, code?: number, extra: Partial<AdmissionOutcome> = {}): AdmissionOutcome {
  const status = code === undefined || reason === undefined ? undefined : { code, message: reason };
  return { answer: answer(id.uid, allowed, status), result, reason, ...id, patchOperations: 0, ...extra };
}

function describeGvk(kind: unknown): string {
  if (!isObject(kind)) return JSON.stringify(kind) ?? 'nothing';
  const group = typeof kind.group === 'string' && kind.group !== '' ? `${kind.group}/` : '';
  return `${group}${String(kind.version)}/${String(kind.kind)}`;
}

function podName(object: unknown): string | undefined {
  if (!isObject(object) || !isObject(object.metadata)) return undefined;
  const { name, generateName } = object.metadata;
  if (typeof name === 'string' && name !== '') return name;
  return typeof generateName === 'string' && generateName !== '' ? `${generateName}*` : undefined;
}

export function reviewAdmission(review: unknown, contextFor: (namespace: string) => InjectContext): AdmissionOutcome {
  const id: Identity = { uid: undefined, namespace: undefined, pod: undefined };
  if (!isObject(review)) return outcome(id, 'error', false, 'expected an AdmissionReview object', 400);
  if (review.apiVersion !== ADMISSION_API_VERSION || review.kind !== 'AdmissionReview') {
    return outcome(
      id,
      'error',
      false,
      `expected apiVersion ${ADMISSION_API_VERSION} kind AdmissionReview, got apiVersion ${JSON.stringify(review.apiVersion) ?? 'none'} kind ${JSON.stringify(review.kind) ?? 'none'} (register the webhook with admissionReviewVersions [v1])`,
      400,
    );
  }
  const request = review.request;
  if (!isObject(request)) return outcome(id, 'error', false, 'the AdmissionReview has no request', 400);
  if (typeof request.uid !== 'string' || request.uid === '') return outcome(id, 'error', false, 'request.uid is missing', 400);
  id.uid = request.uid;
  id.namespace = typeof request.namespace === 'string' && request.namespace !== '' ? request.namespace : undefined;
  id.pod = podName(request.object) ?? (typeof request.name === 'string' && request.name !== '' ? request.name : undefined);

  // A request the webhook's rules should never have sent: let it through untouched, so a
  // mis-registered webhook does not block the cluster, and count it as an error for alerts.
  const kind = request.kind;
  const isPod = isObject(kind) && kind.group === '' && kind.version === 'v1' && kind.kind === 'Pod';
  if (!isPod) return outcome(id, 'error', true, `reseal-injector only mutates core/v1 Pods, got ${describeGvk(kind)}: check the webhook's rules`, 200);
  const subResource = request.subResource;
  if (subResource !== undefined && subResource !== null && subResource !== '') {
    return outcome(id, 'error', true, `reseal-injector does not mutate the pods/${String(subResource)} subresource: check the webhook's rules`, 200);
  }
  if (request.operation !== 'CREATE') {
    return outcome(id, 'error', true, `reseal-injector only handles CREATE, got ${JSON.stringify(request.operation) ?? 'no operation'}: check the webhook's rules`, 200);
  }
  const object = request.object;
  if (!isObject(object) || (object.kind !== undefined && object.kind !== 'Pod')) {
    return outcome(id, 'error', false, `request.object is not a Pod (kind ${JSON.stringify(isObject(object) ? object.kind : object) ?? 'none'})`, 400);
  }
  const podNamespace = isObject(object.metadata) && typeof object.metadata.namespace === 'string' && object.metadata.namespace !== '' ? object.metadata.namespace : undefined;
  const namespace = id.namespace ?? podNamespace;
  if (namespace === undefined) return outcome(id, 'error', false, 'the request names no namespace', 400);
  id.namespace = namespace;

  try {
    const { patch, skippedReason } = injectPod(object, contextFor(namespace));
    if (patch.length === 0) return outcome(id, 'skipped', true, skippedReason ?? 'nothing to inject');
    const encoded = Buffer.from(JSON.stringify(patch)).toString('base64');
    return { answer: answer(id.uid, true, undefined, encoded), result: 'injected', reason: undefined, ...id, patchOperations: patch.length };
  } catch (error) {
    if (error instanceof AnnotationError || error instanceof PodRejectedError) return outcome(id, 'denied', false, `reseal: ${error.message}`, 400);
    if (error instanceof PodShapeError) return outcome(id, 'error', false, `reseal: malformed pod: ${error.message}`, 400);
    return outcome(id, 'error', false, 'reseal-injector failed on this pod (internal error; see the injector log)', 500, { internalError: error });
  }
}
