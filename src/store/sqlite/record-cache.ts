import type Database from "better-sqlite3";
import type { LinkRecord } from "../link-store.js";

/**
 * Decoded records of recently read links, so a cache hit costs neither a
 * B-tree lookup nor three AES-GCM opens. Correct across processes: SQLite's
 * `data_version` changes whenever another connection commits to the file,
 * and then everything cached is dropped; this connection's own writes
 * update or drop their key. Bounded: the oldest entry goes first.
 */
export class RecordCache {
  readonly #entries = new Map<string, LinkRecord>();
  readonly #dataVersion: Database.Statement<[], number>;
  #seen: number;

  constructor(
    db: Database.Database,
    private readonly maxEntries: number,
  ) {
    this.#dataVersion = db.prepare<[], number>("PRAGMA data_version").pluck();
    this.#seen = this.#dataVersion.get() as number;
  }

  /** The cached record, unless another connection wrote since it was cached. */
  get(key: string): LinkRecord | undefined {
    if (this.maxEntries === 0) return undefined;
    const now = this.#dataVersion.get() as number;
    if (now !== this.#seen) {
      this.#seen = now;
      this.#entries.clear();
      return undefined;
    }
    return this.#entries.get(key);
  }

  /**
   * `written`: the record was just written by this connection (always kept,
   * evicting the oldest entry). A record that was merely read does not enter
   * a full cache: a working set larger than the cache would otherwise churn
   * it on every miss, promoting short-lived records into the old generation
   * (measured: +60-80 MB RSS at 100,000 links). A full cache still follows
   * the hot set through refreshes, imports and relinks, and starts over
   * whenever another process writes to the file.
   */
  set(key: string, record: LinkRecord, written = false): void {
    if (this.maxEntries === 0) return;
    const present = this.#entries.delete(key);
    if (!present && this.#entries.size >= this.maxEntries) {
      if (!written) return;
      const oldest = this.#entries.keys().next();
      if (!oldest.done) this.#entries.delete(oldest.value);
    }
    this.#entries.set(key, record);
  }

  delete(key: string): void {
    this.#entries.delete(key);
  }

  clear(): void {
    this.#entries.clear();
  }

  get size(): number {
    return this.#entries.size;
  }
}
