import type { Sealer } from "../../crypto/index.js";
import type { Store } from "../store.js";
import { PgConnection, clientConfig, type PgConnectionOptions } from "./connection.js";
import { PgCallerTokens } from "./caller-tokens.js";
import { PgFlows } from "./flows.js";
import { PgKeyring } from "./keyring.js";
import { PgLinks } from "./links.js";
import { PgListener, type PgListenerLog } from "./listener.js";

const DEFAULT_CACHE_ENTRIES = 10_000;
const PROBE_INTERVAL_MS = 1000;

export interface PgStoreOptions extends PgConnectionOptions {
  sealer: Sealer;
  /** Decoded records kept in memory for cache hits (default 10,000; 0 disables). */
  cacheEntries?: number | undefined;
  /**
   * LISTEN for other hosts' changes (default true). Without it the record
   * cache is off — every read goes to the database — and waiters only poll.
   */
  listen?: boolean | undefined;
  /**
   * Cached records are served only while a heartbeat sent through the pool
   * came back on the LISTEN connection within this long (default 3 s; see
   * listener.ts). The longest a cached record can lag the database.
   */
  listenFreshnessMs?: number | undefined;
  /** Where the store says that its change notifications went stale and came back. */
  log?: PgListenerLog | undefined;
}

/**
 * Whether the store can serve (the database answers) and whether its change
 * notifications are proven live (the listener, when on, heard its heartbeat
 * within listen_freshness). A stale listener does not stop serving: the
 * record cache is off meanwhile and every read goes to the row
 * (docs/design.md §3 invariant 14).
 */
/** `problem`: while the database is unreachable, why (e.g. "connection refused (ECONNREFUSED)"). */
export type PgStoreHealth = { serving: boolean; database: boolean; listener: boolean | undefined; problem?: string | undefined };

export interface PgStore extends Store {
  readonly links: PgLinks;
  readonly flows: PgFlows;
  readonly keyring: PgKeyring;
  health(): PgStoreHealth;
  /** Called whenever `health().serving` or `health().listener` changes. */
  onHealth(listener: (health: PgStoreHealth) => void): () => void;
}

/**
 * Opens a PostgreSQL store: a pool (migrated under an advisory lock at open,
 * a newer schema refused) and, unless `listen` is false, the LISTEN
 * connection. Rejects when the database cannot be reached at open.
 */
export async function openPostgresStore(opts: PgStoreOptions): Promise<PgStore> {
  const conn = await PgConnection.open(opts);
  const healthListeners = new Set<(health: PgStoreHealth) => void>();
  let listener: PgListener | undefined;
  let last: PgStoreHealth = { serving: true, database: true, listener: undefined };
  const health = (): PgStoreHealth => {
    const database = conn.reachable;
    return { serving: database, database, listener: listener?.up, ...(database ? {} : { problem: conn.problem }) };
  };
  let closed = false;
  let probing: NodeJS.Timeout | undefined;
  // While the database is unreachable it is asked again every second, so health comes back
  // without waiting for a caller's request.
  const probe = (): void => {
    if (closed) return;
    conn.query("store.probe", "SELECT 1").then(changed, changed);
  };
  const changed = (): void => {
    const now = health();
    if (!now.database && probing === undefined && !closed) {
      probing = setTimeout(() => {
        probing = undefined;
        probe();
      }, PROBE_INTERVAL_MS).unref();
    }
    if (now.serving === last.serving && now.listener === last.listener) return;
    last = now;
    for (const l of healthListeners) l(now);
  };
  conn.onReachable(changed);
  const close = async (): Promise<void> => {
    if (closed) return;
    closed = true;
    clearTimeout(probing);
    await listener?.close();
    await conn.close();
  };
  const links = new PgLinks(conn, opts.sealer, opts.cacheEntries ?? DEFAULT_CACHE_ENTRIES, () => listener?.epoch(), close);
  if (opts.listen !== false) {
    // The listener is the first to notice the server going or coming back: ask the pool too.
    listener = new PgListener({
      config: clientConfig(opts),
      onPayload: (payload) => links.notified(payload),
      onState: () => {
        changed();
        probe();
      },
      notify: async (channel, payload) => {
        await conn.query("store.heartbeat", "SELECT pg_notify($1, $2)", [channel, payload]);
      },
      freshnessMs: opts.listenFreshnessMs,
      log: opts.log,
    });
    await listener.start();
  }
  last = health();
  return {
    links,
    flows: new PgFlows(conn, opts.sealer),
    keyring: new PgKeyring(conn, opts.sealer),
    callerTokens: new PgCallerTokens(conn),
    close,
    health,
    onHealth(l) {
      healthListeners.add(l);
      return () => healthListeners.delete(l);
    },
  };
}
