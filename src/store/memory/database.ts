import type { CallerTokenRow } from "../caller-token-store.js";
import type { AuthFlowRow, DeviceFlowRow } from "../flow-codec.js";
import { HOST_CLOCK, type Clock } from "../lease-core.js";
import type { LinkKey } from "../link-store.js";
import type { LinkRow } from "../row-codec.js";

/** The database's clock (epoch ms): every lease time of the stores opened on it. */
export type { Clock };

export interface SentinelRow {
  key_id: string;
  envelope: Buffer;
  created_at: number;
}

/** The primary key of `links` as a Map key. */

/**
 * Bytewise order of UTF-8 strings: what SQLite's BINARY collation and
 * PostgreSQL's COLLATE "C" sort by. JavaScript's `<` compares UTF-16 code
 * units, which orders characters above U+FFFF differently.
 */
export function compareBytes(a: string, b: string): number {
  return Buffer.compare(Buffer.from(a, "utf8"), Buffer.from(b, "utf8"));
}

/** (provider_id, user_id) order, as the SQL stores page. */
export function compareKeys(a: Pick<LinkRow, "provider_id" | "user_id">, b: Pick<LinkRow, "provider_id" | "user_id">): number {
  return compareBytes(a.provider_id, b.provider_id) || compareBytes(a.user_id, b.user_id);
}

/**
 * The tables of one in-memory database, the counterpart of a SQLite file:
 * several stores opened on it (openMemoryStore({ database })) share it the
 * way processes share a file. Rows have the SQL stores' columns; sealed
 * columns hold what the store's Sealer made (plaintext bytes by default).
 *
 * Everything is synchronous: a write is atomic because nothing else runs
 * while it does, which lets a deterministic simulation interleave stores
 * exactly at their awaits. Tests may read and change the tables directly
 * (as they would a SQLite file behind the store's back), calling `wrote()`
 * after a change so cached records are dropped.
 */
export class MemoryDatabase {
  /** The database's clock: what a networked store would read as clock_timestamp(). */
  readonly clock: Clock;
  readonly links = new Map<string, LinkRow>();
  readonly authFlows = new Map<string, AuthFlowRow>();
  readonly deviceFlows = new Map<string, DeviceFlowRow>();
  readonly sentinels = new Map<string, SentinelRow>();
  /** caller_tokens by id (migration 5). */
  readonly callerTokens = new Map<string, CallerTokenRow>();
  #writes = 0;

  constructor(opts: { clock?: Clock | undefined } = {}) {
    this.clock = opts.clock ?? HOST_CLOCK;
  }

  /** Counts committed writes, like SQLite's data_version across connections. */
  get writes(): number {
    return this.#writes;
  }

  /** Records that a write committed (any store's, or a test's behind the stores' back). */
  wrote(): void {
    this.#writes++;
  }
}

/**
 * One store's handle on a database, the counterpart of a SQLite connection:
 * it tells this store's writes from others' (the record cache's epoch is
 * what others wrote, as `PRAGMA data_version` is) and refuses use after close.
 */
export class MemoryConnection {
  #own = 0;
  #closed = false;

  constructor(readonly db: MemoryDatabase) {}

  /** Throws once the store is closed: a use after close is a bug, as with a closed SQLite connection. */
  open(): MemoryDatabase {
    if (this.#closed) throw new Error("the memory store is closed");
    return this.db;
  }

  /** Counts a write of this store's. */
  wrote(): void {
    this.#own++;
    this.db.wrote();
  }

  /** Changes whenever another store (or a test) wrote: the record cache's epoch. */
  dataVersion(): number {
    return this.db.writes - this.#own;
  }

  close(): void {
    this.#closed = true;
  }
}
