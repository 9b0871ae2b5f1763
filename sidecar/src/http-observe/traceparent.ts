// W3C Trace Context `traceparent` (https://www.w3.org/TR/trace-context/#traceparent-header):
// version "00", 32 hex trace-id, 16 hex parent-id, 2 hex flags, 55 characters in all. Pure.

export interface TraceParent {
  readonly traceId: string;
  readonly parentId: string;
  readonly flags: number;
}

export const TRACEPARENT_LENGTH = 55;
/** Where the parent-id starts in a version-00 value: a same-length rewrite replaces it in place. */
export const PARENT_ID_OFFSET = 36;

const VALUE = /^([0-9a-f]{2})-([0-9a-f]{32})-([0-9a-f]{16})-([0-9a-f]{2})$/;

/** The parsed header value, or undefined when it is malformed (then a new trace starts). */
export function parseTraceParent(value: string): TraceParent | undefined {
  const m = VALUE.exec(value.length > TRACEPARENT_LENGTH && !value.startsWith('00') ? value.slice(0, TRACEPARENT_LENGTH) : value);
  if (m === null) return undefined;
  const [, version, traceId, parentId, flags] = m as unknown as [string, string, string, string, string];
  if (version === 'ff') return undefined;
  if (/^0+$/.test(traceId) || /^0+$/.test(parentId)) return undefined;
  return { traceId, parentId, flags: Number.parseInt(flags, 16) };
}

export function formatTraceParent(traceId: string, spanId: string, flags: number): string {
  return `00-${traceId}-${spanId}-${(flags & 0xff).toString(16).padStart(2, '0')}`;
}
