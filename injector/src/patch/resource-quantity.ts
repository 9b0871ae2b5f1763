// Kubernetes resource quantities (k8s.io/apimachinery resource.Quantity), just far enough to
// validate the proxy-resource annotations and compare a request with its limit.

export interface Quantity {
  /** As written (trimmed): the pod gets the user's own spelling. */
  readonly text: string;
  /** In base units: cores for CPU, bytes for memory. */
  readonly value: number;
}

const SUFFIX_FACTORS: Readonly<Record<string, number>> = {
  '': 1,
  n: 1e-9,
  u: 1e-6,
  m: 1e-3,
  k: 1e3,
  M: 1e6,
  G: 1e9,
  T: 1e12,
  P: 1e15,
  E: 1e18,
  Ki: 2 ** 10,
  Mi: 2 ** 20,
  Gi: 2 ** 30,
  Ti: 2 ** 40,
  Pi: 2 ** 50,
  Ei: 2 ** 60,
};

const QUANTITY = /^(\+?(?:[0-9]+(?:\.[0-9]*)?|\.[0-9]+))(?:([eE][+-]?[0-9]+)|(Ki|Mi|Gi|Ti|Pi|Ei|[numkMGTPE])?)$/;

export function parseQuantity(text: string): Quantity {
  const match = QUANTITY.exec(text);
  if (!match) throw new Error('is not a Kubernetes quantity (e.g. 100m, 0.5, 128Mi, 1Gi)');
  const number = Number(match[1]);
  const value = match[2] !== undefined ? Number(`${match[1]}${match[2]}`) : number * (SUFFIX_FACTORS[match[3] ?? ''] ?? 1);
  if (!Number.isFinite(value)) throw new Error('is out of range');
  return { text, value };
}

export function parseCpuQuantity(text: string): Quantity {
  const quantity = parseQuantity(text);
  // The API server rounds CPU to millicores; anything smaller would become 0 or 1m silently.
  if (quantity.value < 0.001) throw new Error('is less than 1m of CPU');
  return quantity;
}

const MIN_MEMORY_BYTES = 16 * 2 ** 20;

export function parseMemoryQuantity(text: string): Quantity {
  const quantity = parseQuantity(text);
  // A bare "256" is 256 bytes, nearly always a forgotten "Mi"; the proxy could not even start.
  if (quantity.value < MIN_MEMORY_BYTES) throw new Error('is less than 16Mi of memory (a bare number is bytes: did you mean Mi?)');
  return quantity;
}
