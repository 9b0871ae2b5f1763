/**
 * Keeps label cardinality bounded: the first `capacity` distinct values are admitted as
 * themselves, every later one becomes `overflow`. Values are never evicted, so a series,
 * once exported, keeps its name for the life of the process.
 */
export class BoundedValues {
  readonly #seen = new Set<string>();
  readonly #capacity: number;
  readonly #overflow: string;

  constructor(capacity: number, overflow: string) {
    this.#capacity = capacity;
    this.#overflow = overflow;
  }

  get size(): number {
    return this.#seen.size;
  }

  admit(value: string): string {
    if (this.#seen.has(value)) return value;
    if (this.#seen.size >= this.#capacity) return this.#overflow;
    this.#seen.add(value);
    return value;
  }
}
