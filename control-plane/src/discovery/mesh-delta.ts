// The mesh as tables keyed like the wire (endpoint IP, service cluster IP), and the changes
// between two versions of them. A delta maps a key to its new value, or to null when the key
// is gone; merging two deltas is a plain overwrite, so a stream that cannot keep up folds
// every change into one pending delta whose size never exceeds the tables themselves.
import type { DiscoveryEndpoint, DiscoveryService } from '@reseal/core';

export interface Versioned<T> {
  readonly value: T;
  /** Equal fingerprints, equal values: cheaper than a deep compare for every stream. */
  readonly fingerprint: string;
}

export interface MeshTables {
  readonly endpoints: ReadonlyMap<string, Versioned<DiscoveryEndpoint>>;
  readonly services: ReadonlyMap<string, Versioned<DiscoveryService>>;
}

export interface MeshDelta {
  readonly endpoints: Map<string, DiscoveryEndpoint | null>;
  readonly services: Map<string, DiscoveryService | null>;
}

export const EMPTY_TABLES: MeshTables = { endpoints: new Map(), services: new Map() };

export function emptyDelta(): MeshDelta {
  return { endpoints: new Map(), services: new Map() };
}

export function versioned<T>(value: T): Versioned<T> {
  return { value, fingerprint: JSON.stringify(value) };
}

export function diffTables(previous: MeshTables, next: MeshTables): MeshDelta {
  return { endpoints: diffMap(previous.endpoints, next.endpoints), services: diffMap(previous.services, next.services) };
}

/** Folds `later` into `into`; the later value of a key wins. */
export function mergeDelta(into: MeshDelta, later: MeshDelta): void {
  for (const [key, value] of later.endpoints) into.endpoints.set(key, value);
  for (const [key, value] of later.services) into.services.set(key, value);
}

export function deltaSize(delta: MeshDelta): number {
  return delta.endpoints.size + delta.services.size;
}

function diffMap<T>(previous: ReadonlyMap<string, Versioned<T>>, next: ReadonlyMap<string, Versioned<T>>): Map<string, T | null> {
  const changes = new Map<string, T | null>();
  for (const [key, entry] of next) {
    if (previous.get(key)?.fingerprint !== entry.fingerprint) changes.set(key, entry.value);
  }
  for (const key of previous.keys()) {
    if (!next.has(key)) changes.set(key, null);
  }
  return changes;
}
