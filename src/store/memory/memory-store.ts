import type { Sealer } from "../../crypto/index.js";
import type { Store } from "../store.js";
import { MemoryConnection, MemoryDatabase, type Clock } from "./database.js";
import { MemoryCallerTokens } from "./caller-tokens.js";
import { MemoryFlows } from "./flows.js";
import { MemoryKeyring } from "./keyring.js";
import { MemoryLinks } from "./links.js";
import { PlainSealer } from "./plain-sealer.js";

/** As many as the SQLite store keeps, so both cache alike. */
const DEFAULT_CACHE_ENTRIES = 10_000;

export interface MemoryStoreOptions {
  /**
   * The database to open; stores opened on one database share it the way
   * processes share a SQLite file. Default: a new, empty one.
   */
  database?: MemoryDatabase | undefined;
  /** The clock of a new database (default Date.now); a given `database` has its own. */
  clock?: Clock | undefined;
  /** Default: PlainSealer (no encryption, SHA-256 refresh-token digests). */
  sealer?: Sealer | undefined;
  /** Decoded records kept for cache hits (default 10,000, as SQLite; 0 disables). */
  cacheEntries?: number | undefined;
}

/** A store over plain Maps, for tests and the deterministic simulation (never the daemon's store). */
export interface MemoryStore extends Store {
  readonly links: MemoryLinks;
  readonly flows: MemoryFlows;
  readonly keyring: MemoryKeyring;
  readonly database: MemoryDatabase;
}

/**
 * Opens a store on an in-memory database. Synchronous, and so is every
 * method inside: nothing here waits on anything.
 */
export function openMemoryStore(opts: MemoryStoreOptions = {}): MemoryStore {
  if (opts.database !== undefined && opts.clock !== undefined) {
    throw new TypeError("pass a clock to new MemoryDatabase({ clock }), not to a store opened on an existing database");
  }
  const database = opts.database ?? new MemoryDatabase({ clock: opts.clock });
  const sealer = opts.sealer ?? new PlainSealer();
  const conn = new MemoryConnection(database);
  return {
    database,
    links: new MemoryLinks(conn, sealer, opts.cacheEntries ?? DEFAULT_CACHE_ENTRIES),
    flows: new MemoryFlows(conn, sealer),
    keyring: new MemoryKeyring(conn, sealer),
    callerTokens: new MemoryCallerTokens(conn),
    close: async () => conn.close(),
  };
}
