import pg from "pg";
import { assertMillis } from "../validate.js";
import { describePgFault, isQueryTimeout, pgFault, unavailable } from "./faults.js";
import { migrate } from "./migrations.js";

const DEFAULT_POOL_SIZE = 10;
const DEFAULT_STATEMENT_TIMEOUT_MS = 5000;
/** A row lock is only ever held for SQL; waiting long for one means something is wrong. */
const DEFAULT_LOCK_TIMEOUT_MS = 2000;
const DEFAULT_CONNECT_TIMEOUT_MS = 5000;
/**
 * The client-side deadline, by default this much beyond statement_timeout:
 * a server that is there answers first (57014, with its own message), so
 * the client's deadline only ever ends a connection that went silent.
 */
const QUERY_TIMEOUT_MARGIN_MS = 1000;
/**
 * TCP keepalive after this much idleness: a peer that vanished (host gone,
 * NAT state dropped) is found by the kernel instead of lingering half-open.
 * Node sets only the idle time; the probe interval and count are the OS's
 * (Linux: 75 s × 9), so this is the backstop — query_timeout and the
 * listener's heartbeat are what bound a silent connection in seconds.
 */
const KEEPALIVE_IDLE_MS = 5000;
/** How long close() waits for the server to see the connections off. */
const CLOSE_GRACE_MS = 1000;
const OFFSET_SAMPLES = 3;

/** int8 (OID 20) as a JS number: every stored integer is a safe integer (store/validate.ts). */
const INT8_OID = 20;
const parseInt8 = (value: string): number => Number(value);
const TYPES = {
  getTypeParser: ((oid: number, format?: "text" | "binary") =>
    oid === INT8_OID ? parseInt8 : pg.types.getTypeParser(oid, format as "text")) as typeof pg.types.getTypeParser,
};

export interface PgConnectionOptions {
  /** postgres://… (the password may be in it; it is never logged or put in an error). */
  url: string;
  poolSize?: number | undefined;
  /** statement_timeout on every connection (default 5 s). */
  statementTimeoutMs?: number | undefined;
  /** lock_timeout on every connection (default 2 s). */
  lockTimeoutMs?: number | undefined;
  /** How long getting a connection may take (default 5 s). */
  connectTimeoutMs?: number | undefined;
  /**
   * The client-side deadline of every statement (pg's `query_timeout`;
   * default statement_timeout + 1 s): a connection that sends nothing back
   * for this long is destroyed and the call fails as StoreUnavailableError.
   */
  queryTimeoutMs?: number | undefined;
  /** TLS to the server, as node-postgres takes it (undefined: whatever the URL's sslmode says). */
  ssl?: pg.ClientConfig["ssl"] | undefined;
  /**
   * The host clock's offset from the database's, in ms (host − database).
   * Measured at open unless given; tests pin it to read raw rows back as written.
   */
  clockOffsetMs?: number | undefined;
}

/** What a transaction body runs statements on. */
export interface Queryer {
  query<R extends object>(text: string, values?: unknown[]): Promise<R[]>;
}

/**
 * A pool of connections to one PostgreSQL database, shared by the links,
 * flows and keyring parts of a store (docs/design.md §4.5). Every connection
 * has statement_timeout and lock_timeout set, so no statement and no wait
 * for a row lock is unbounded on the server; and a client-side deadline
 * (`query_timeout`) and TCP keepalive, so a connection whose path went
 * silent — the server alive, nothing coming back — fails in bounded time
 * too. A transaction is never held across anything but SQL. Connection
 * faults become StoreUnavailableError naming the operation; the pool
 * replaces broken connections by itself, so the store recovers when the
 * server is back without anyone reopening it.
 *
 * Times: the store keeps every time in the database's clock, so the hosts
 * of a fleet agree on when a lease expires whatever their own clocks say.
 * The offset between this host's clock and the database's is measured at
 * open (the best of a few round trips) and applied on the way in (`toDb`)
 * and out (`fromDb`): a host whose clock runs 10 minutes fast sees every
 * lease and expiry 10 minutes later in its own clock, which is the same
 * instant.
 */
export class PgConnection {
  readonly pool: pg.Pool;
  readonly offsetMs: number;
  #reachable = true;
  #problem: string | undefined;
  #closed = false;
  readonly #onReachable = new Set<(reachable: boolean) => void>();

  static async open(opts: PgConnectionOptions): Promise<PgConnection> {
    const statementTimeoutMs = opts.statementTimeoutMs ?? DEFAULT_STATEMENT_TIMEOUT_MS;
    const lockTimeoutMs = opts.lockTimeoutMs ?? DEFAULT_LOCK_TIMEOUT_MS;
    const connectTimeoutMs = opts.connectTimeoutMs ?? DEFAULT_CONNECT_TIMEOUT_MS;
    assertMillis("statementTimeoutMs", statementTimeoutMs, { min: 1 });
    assertMillis("lockTimeoutMs", lockTimeoutMs, { min: 1 });
    assertMillis("connectTimeoutMs", connectTimeoutMs, { min: 1 });
    if (opts.queryTimeoutMs !== undefined) assertMillis("queryTimeoutMs", opts.queryTimeoutMs, { min: 1 });
    const pool = new pg.Pool({
      ...clientConfig(opts),
      max: opts.poolSize ?? DEFAULT_POOL_SIZE,
      statement_timeout: statementTimeoutMs,
      lock_timeout: lockTimeoutMs,
      // A transaction left open by a bug or a stalled process must not hold row locks for ever.
      idle_in_transaction_session_timeout: Math.max(statementTimeoutMs * 2, 10_000),
      connectionTimeoutMillis: connectTimeoutMs,
    });
    // An idle connection that breaks (server restart) is dropped by the pool; without a
    // listener the error would end the process.
    pool.on("error", () => undefined);
    // A commit must be durable before the store says it happened (a rotated refresh token, a lease
    // claim): a server set to synchronous_commit=off would lose acknowledged writes in a crash.
    // Every open connection, so close() can end the ones a silent path keeps from saying goodbye.
    const clients = new Set<pg.PoolClient>();
    pool.on("remove", (client) => clients.delete(client));
    pool.on("connect", (client) => {
      clients.add(client);
      client.query("SET synchronous_commit TO on").catch(() => undefined);
    });
    try {
      const client = await pool.connect();
      let broken: Error | undefined;
      const onError = (err: Error): void => {
        broken = err;
      };
      client.on("error", onError);
      try {
        await migrate(client);
      } finally {
        client.removeListener("error", onError);
        client.release(broken);
      }
      const offsetMs = opts.clockOffsetMs ?? (await measureOffset(pool));
      return new PgConnection(pool, offsetMs, clients);
    } catch (err) {
      await pool.end().catch(() => undefined);
      throw err;
    }
  }

  readonly #clients: ReadonlySet<pg.PoolClient>;

  private constructor(pool: pg.Pool, offsetMs: number, clients: ReadonlySet<pg.PoolClient>) {
    this.pool = pool;
    this.#clients = clients;
    this.offsetMs = offsetMs;
  }

  /** A host time (epoch ms) in the database's clock. */
  toDb(ms: number): number;
  toDb(ms: number | null): number | null;
  toDb(ms: number | null): number | null {
    return ms === null ? null : ms - this.offsetMs;
  }

  /** A stored time in this host's clock. */
  fromDb(ms: number): number;
  fromDb(ms: number | null): number | null;
  fromDb(ms: number | null): number | null {
    return ms === null ? null : ms + this.offsetMs;
  }

  /** Whether the last statement reached the server. */
  get reachable(): boolean {
    return this.#reachable;
  }

  /** While unreachable: why, as the last failure said (faults.ts describePgFault); undefined while reachable. */
  get problem(): string | undefined {
    return this.#reachable ? undefined : this.#problem;
  }

  onReachable(listener: (reachable: boolean) => void): () => void {
    this.#onReachable.add(listener);
    return () => this.#onReachable.delete(listener);
  }

  /** One statement. */
  async query<R extends object>(op: string, text: string, values: unknown[] = []): Promise<R[]> {
    const client = await this.#connect(op);
    let broken: Error | undefined;
    const onError = (err: Error): void => {
      broken = err;
    };
    client.on("error", onError);
    try {
      const result = await client.query<R>(text, values);
      this.#setReachable(true);
      return result.rows;
    } catch (err) {
      // The timed-out statement is still in flight on this connection: it goes, and a fresh one takes its place.
      if (isQueryTimeout(err)) broken = err as Error;
      throw this.#fault(op, err);
    } finally {
      client.removeListener("error", onError);
      client.release(broken);
    }
  }

  /**
   * A pooled connection. Whatever keeps one from being had — refused,
   * timed out, the server starting up, not accepting connections, a
   * password that no longer works — is the store being unavailable, never
   * a bug of the caller's.
   */
  async #connect(op: string): Promise<pg.PoolClient> {
    try {
      return await this.pool.connect();
    } catch (err) {
      const code = err instanceof pg.DatabaseError ? (err.code ?? "PG_CONNECTION") : ((err as NodeJS.ErrnoException).code ?? "PG_CONNECTION");
      this.#problem = describePgFault(code);
      this.#setReachable(false);
      throw unavailable(op, { code, unreachable: true }, err);
    }
  }

  /**
   * `body` inside BEGIN … COMMIT on one connection; any throw rolls back.
   * The body runs only SQL and synchronous work (sealing happens before).
   */
  async tx<T>(op: string, body: (q: Queryer) => Promise<T>): Promise<T> {
    const client = await this.#connect(op);
    let broken: unknown;
    // A checked-out client that loses its server emits 'error' (the pool listens only while it is idle):
    // without a listener that would end the process. The failing query rejects as well.
    const onError = (err: Error): void => {
      broken = err;
    };
    client.on("error", onError);
    try {
      await client.query("BEGIN");
      const q: Queryer = { query: async <R extends object>(text: string, values?: unknown[]) => (await client.query<R>(text, values)).rows };
      const out = await body(q);
      await client.query("COMMIT");
      this.#setReachable(true);
      return out;
    } catch (err) {
      if (isQueryTimeout(err)) {
        // A silent connection would time out the ROLLBACK too, doubling the caller's wait: it is
        // destroyed instead, and the server rolls back when the session ends.
        broken = err;
      } else {
        try {
          await client.query("ROLLBACK");
        } catch (rollbackErr) {
          broken = rollbackErr;
        }
      }
      throw this.#fault(op, err);
    } finally {
      client.removeListener("error", onError);
      // A connection that broke, or whose rollback failed, is not given back to the pool.
      client.release(broken instanceof Error ? broken : undefined);
    }
  }

  /** Ends every connection. Idempotent. */
  async close(): Promise<void> {
    if (this.#closed) return;
    this.#closed = true;
    // pool.end() waits for checked-out connections (one in a statement on a silent path, up to its deadline);
    // the ones it ends wait for the server's goodbye, which a silent path never brings. After a grace
    // every socket left is destroyed: a shutdown must not hang, nor leave sockets, on a frozen network.
    let timer: NodeJS.Timeout | undefined;
    const grace = new Promise<void>((resolve) => {
      timer = setTimeout(resolve, CLOSE_GRACE_MS);
    });
    await Promise.race([this.pool.end().catch(() => undefined), grace]);
    clearTimeout(timer);
    for (const client of this.#clients) client.connection.stream.destroy();
  }

  #fault(op: string, err: unknown): unknown {
    const fault = pgFault(err);
    if (fault === undefined) {
      if (err instanceof pg.DatabaseError) this.#setReachable(true);
      return err;
    }
    if (fault.unreachable) {
      this.#problem = describePgFault(fault.code);
      this.#setReachable(false);
    }
    return unavailable(op, fault, err);
  }

  #setReachable(reachable: boolean): void {
    if (this.#reachable === reachable) return;
    this.#reachable = reachable;
    for (const listener of this.#onReachable) listener(reachable);
  }
}

/**
 * The connection settings of a URL, with int8 read as a number, the
 * connect and client-side statement deadlines, and TCP keepalive: the
 * pool's connections and the listener's alike.
 */
export function clientConfig(opts: Pick<PgConnectionOptions, "url" | "ssl" | "connectTimeoutMs" | "queryTimeoutMs" | "statementTimeoutMs">): pg.ClientConfig {
  return {
    connectionString: opts.url,
    types: TYPES,
    application_name: "tokenbroker",
    connectionTimeoutMillis: opts.connectTimeoutMs ?? DEFAULT_CONNECT_TIMEOUT_MS,
    query_timeout: queryTimeoutMs(opts),
    keepAlive: true,
    keepAliveInitialDelayMillis: KEEPALIVE_IDLE_MS,
    ...(opts.ssl === undefined ? {} : { ssl: opts.ssl }),
  };
}

/** The client-side deadline of a statement: as given, else a little beyond statement_timeout. */
export function queryTimeoutMs(opts: Pick<PgConnectionOptions, "queryTimeoutMs" | "statementTimeoutMs">): number {
  return opts.queryTimeoutMs ?? (opts.statementTimeoutMs ?? DEFAULT_STATEMENT_TIMEOUT_MS) + QUERY_TIMEOUT_MARGIN_MS;
}

/** host − database clock in ms, from the round trip with the least delay. */
async function measureOffset(pool: pg.Pool): Promise<number> {
  let best: { rtt: number; offset: number } | undefined;
  for (let i = 0; i < OFFSET_SAMPLES; i++) {
    const sent = Date.now();
    const { rows } = await pool.query<{ now: number }>("SELECT (extract(epoch FROM clock_timestamp()) * 1000)::int8 AS now");
    const received = Date.now();
    const dbNow = rows[0]?.now;
    if (dbNow === undefined) throw new Error("the database did not say what time it is");
    const rtt = received - sent;
    const offset = Math.round((sent + received) / 2 - dbNow);
    if (best === undefined || rtt < best.rtt) best = { rtt, offset };
  }
  return best?.offset ?? 0;
}
