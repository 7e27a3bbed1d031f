import type { LinkRecord } from "./link-store.js";
import { flatString } from "./flat-string.js";
import { SharedValues } from "./shared-values.js";

/**
 * Decoded records of recently read links, so a cache hit costs neither a
 * database read nor three AES-GCM opens. What keeps it correct across
 * processes is the store's: `epoch()` names the database state the entries
 * were read under — SQLite's `data_version`, which changes whenever another
 * connection commits to the file; PostgreSQL's listener generation — and
 * when it changes everything cached is dropped; `undefined` means the store
 * cannot tell now (PostgreSQL with its listener down), and then nothing is
 * cached at all. Writes of this process update or drop their key. Bounded:
 * the oldest entry goes first. Entries are compact: values most records
 * hold equal copies of are shared (shared-values.ts).
 */
export class RecordCache {
  readonly #entries = new Map<string, LinkRecord>();
  #seen: number | undefined;
  /** Counts invalidations, so a read that raced one does not cache what it read (see ticket). */
  #invalidations = 0;
  /** The count at each key's last invalidation, and at the last clear (which invalidates every key). */
  readonly #invalidatedAt = new Map<string, number>();
  #clearedAt = 0;
  readonly #shared = new SharedValues();

  constructor(
    private readonly maxEntries: number,
    private readonly epoch: () => number | undefined,
  ) {
    this.#seen = epoch();
  }

  /** The cached record, unless the database may have changed since it was cached. */
  get(key: string): LinkRecord | undefined {
    if (this.maxEntries === 0 || !this.#current()) return undefined;
    return this.#entries.get(key);
  }

  /**
   * Taken before an asynchronous read: `set` with it caches the result only
   * if no invalidation of that key (or of everything) arrived meanwhile (the
   * read may predate the write the invalidation announced).
   */
  ticket(): number {
    return this.#invalidations;
  }

  /**
   * `record` must be one just built (a decoded row, a write's result): its
   * values that other records share are replaced in place (shared-values.ts).
   * `written`: the record was just written by this process (always kept,
   * evicting the oldest entry). A record that was merely read does not enter
   * a full cache: a working set larger than the cache would otherwise churn
   * it on every miss, promoting short-lived records into the old generation
   * (measured: +60-80 MB RSS at 100,000 links). A full cache still follows
   * the hot set through refreshes, imports and relinks, and starts over
   * whenever another process writes.
   */
  set(key: string, record: LinkRecord, written = false, ticket?: number): void {
    if (this.maxEntries === 0 || !this.#current()) return;
    if (ticket !== undefined && (this.#clearedAt > ticket || (this.#invalidatedAt.get(key) ?? 0) > ticket)) return;
    const present = this.#entries.delete(key);
    if (!present && this.#entries.size >= this.maxEntries) {
      if (!written) return;
      const oldest = this.#entries.keys().next();
      if (!oldest.done) this.#entries.delete(oldest.value);
    }
    // A key kept long: flat, not the rope it was built as (flat-string.ts); the cost falls on a miss, after a database read.
    this.#entries.set(flatString(key), this.#shared.share(record));
  }

  delete(key: string): void {
    this.#invalidations++;
    this.#entries.delete(key);
    // Bounded like the entries: forgetting every key's mark is a clear.
    if (this.#invalidatedAt.size >= Math.max(this.maxEntries, 1) * 2) this.clear();
    else this.#invalidatedAt.set(key, this.#invalidations);
  }

  clear(): void {
    this.#invalidations++;
    this.#clearedAt = this.#invalidations;
    this.#invalidatedAt.clear();
    this.#entries.clear();
  }

  get size(): number {
    return this.#entries.size;
  }

  /** Drops everything when the epoch moved; false while the store cannot tell. */
  #current(): boolean {
    const now = this.epoch();
    if (now !== this.#seen) {
      this.#seen = now;
      this.clear();
    }
    return now !== undefined;
  }
}
