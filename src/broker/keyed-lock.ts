import { Mutex } from "async-mutex";

/**
 * One async mutex per key, created on first use and dropped as soon as no
 * one holds or waits for it, so memory follows the keys in flight, not every
 * key ever seen.
 */
export class KeyedLock {
  readonly #entries = new Map<string, { mutex: Mutex; users: number }>();

  async run<T>(key: string, work: () => Promise<T>): Promise<T> {
    let entry = this.#entries.get(key);
    if (entry === undefined) {
      entry = { mutex: new Mutex(), users: 0 };
      this.#entries.set(key, entry);
    }
    entry.users++;
    try {
      return await entry.mutex.runExclusive(work);
    } finally {
      if (--entry.users === 0) this.#entries.delete(key);
    }
  }

  /** Keys currently held or waited for. */
  get size(): number {
    return this.#entries.size;
  }
}
