import type { Sealer } from "../../crypto/index.js";
import type { Clock } from "../lease-core.js";
import type { Store } from "../store.js";
import { SqliteConnection, type ConnectionOptions } from "./connection.js";
import { SqliteCallerTokens } from "./caller-tokens.js";
import { SqliteFlows } from "./flows.js";
import { SqliteKeyring } from "./keyring.js";
import { SqliteLinks } from "./links.js";

const DEFAULT_CACHE_ENTRIES = 10_000;

export interface SqliteStoreOptions extends ConnectionOptions {
  sealer: Sealer;
  /** Decoded records kept in memory for cache hits (default 10,000; 0 disables). */
  cacheEntries?: number | undefined;
  /**
   * The clock every lease time is judged and written by (default the
   * host's, Date.now: the processes sharing a file share a host, so the
   * host's clock is the database's). Tests inject one to move time.
   */
  clock?: Clock | undefined;
}

/** The embedded store: one SQLite file in WAL mode that several processes may share. */
export interface SqliteStore extends Store {
  /** With putMany, the bulk import the bench and tests seed through. */
  readonly links: SqliteLinks;
  readonly flows: SqliteFlows;
  readonly keyring: SqliteKeyring;
}

/**
 * Opens (creating and migrating as needed) the database file. Synchronous:
 * it runs once at startup, before anything is served.
 */
export function openSqliteStore(opts: SqliteStoreOptions): SqliteStore {
  const conn = SqliteConnection.open(opts);
  try {
    return {
      links: new SqliteLinks(conn, opts.sealer, opts.cacheEntries ?? DEFAULT_CACHE_ENTRIES, opts.clock),
      flows: new SqliteFlows(conn, opts.sealer),
      keyring: new SqliteKeyring(conn, opts.sealer),
      callerTokens: new SqliteCallerTokens(conn),
      close: () => conn.close(),
    };
  } catch (err) {
    conn.db.close();
    throw err;
  }
}
