import type { LinkKey } from "../store/link-store.js";

/**
 * A map by link key, as a map per provider of maps by user id: no composite
 * key string is built for a lookup or kept for an entry. The scheduler
 * (proactive.ts) keeps an entry per link in use; keyed by `linkKeyId` it held
 * one more string per link than the record cache already does (about 50
 * bytes, 5 MB at 100,000 links) and built one per call to look it up. The
 * user id strings it keeps are the records' own.
 */
export class LinkMap<V> {
  readonly #byProvider = new Map<string, Map<string, V>>();

  get(key: LinkKey): V | undefined {
    return this.#byProvider.get(key.providerId)?.get(key.userId);
  }

  has(key: LinkKey): boolean {
    return this.#byProvider.get(key.providerId)?.has(key.userId) === true;
  }

  /** `key`'s strings are the ones kept. */
  set(key: LinkKey, value: V): void {
    let users = this.#byProvider.get(key.providerId);
    if (users === undefined) {
      users = new Map();
      this.#byProvider.set(key.providerId, users);
    }
    users.set(key.userId, value);
  }

  delete(key: LinkKey): boolean {
    const users = this.#byProvider.get(key.providerId);
    if (users === undefined || !users.delete(key.userId)) return false;
    if (users.size === 0) this.#byProvider.delete(key.providerId);
    return true;
  }

  /** Links held: the sum over providers, a handful of maps. */
  get size(): number {
    let n = 0;
    for (const users of this.#byProvider.values()) n += users.size;
    return n;
  }

  *values(): IterableIterator<V> {
    for (const users of this.#byProvider.values()) yield* users.values();
  }
}
