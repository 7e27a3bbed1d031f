/**
 * A bounded memo for per-call derivations that depend only on their input
 * (a token's SHA-256, a record's encoded answer): the hot path sees the same
 * few values over and over. Bounded by clearing when full — the memo is
 * only a shortcut, never the source of an answer — so a caller sending
 * endless distinct values costs one recomputation each, never memory.
 */
export class SmallMemo<K, V> {
  readonly #entries = new Map<K, V>();
  constructor(private readonly maxEntries: number) {}

  get(key: K, compute: (key: K) => V): V {
    const hit = this.#entries.get(key);
    if (hit !== undefined) return hit;
    const value = compute(key);
    if (this.#entries.size >= this.maxEntries) this.#entries.clear();
    this.#entries.set(key, value);
    return value;
  }
}
