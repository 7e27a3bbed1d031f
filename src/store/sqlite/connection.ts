import { setTimeout as sleep } from "node:timers/promises";
import Database from "better-sqlite3";
import { storageFault, unavailable } from "./faults.js";
import { migrate } from "./migrations.js";
import { assertMillis } from "../validate.js";

/** How long one statement may wait synchronously for another connection's lock. */
const DEFAULT_BUSY_TIMEOUT_MS = 20;
/** How long a busy operation keeps being retried (asynchronously) before it gives up. */
const DEFAULT_BUSY_BUDGET_MS = 2000;
/** Opening (pragmas, migrations) happens before anything is served, so it may wait longer. */
const OPEN_BUSY_TIMEOUT_MS = 5000;
const FIRST_BACKOFF_MS = 5;
const MAX_BACKOFF_MS = 100;

export interface ConnectionOptions {
  /** The database file (created if missing). */
  path: string;
  /** SQLite's busy_timeout: the longest synchronous wait for a lock (default 20 ms). */
  busyTimeoutMs?: number | undefined;
  /** How long a busy operation is retried before StoreUnavailableError(SQLITE_BUSY) (default 2000 ms). */
  busyBudgetMs?: number | undefined;
  /**
   * The busy retry's waits and jitter (default: real timers, Math.random).
   * Another process holds the lock in real time, so the budget is always
   * measured on the monotonic clock; tests inject these to replay a schedule.
   */
  busyWait?: { sleep: (ms: number) => Promise<void>; random: () => number } | undefined;
}

const realBusyWait = { sleep: (ms: number): Promise<void> => sleep(ms), random: Math.random };

/**
 * One SQLite connection in WAL mode, shared by the links, flows and keyring
 * parts of a store. Everything runs synchronously on better-sqlite3, so the
 * event loop must never wait long inside it (docs/design.md §3 invariant 10):
 * SQLite's own busy wait is kept short, and an operation that still finds the
 * database locked is retried after an asynchronous backoff (5 ms doubling to
 * 100 ms, jittered) until the busy budget is spent. Each attempt keeps the
 * short synchronous wait: measured with four processes writing back to back,
 * attempts that only poll (busy_timeout 0) lose nearly every race for the
 * lock (worst write ~1.5 s against ~60 ms), so fairness costs at most one
 * short wait per attempt. A retry always re-runs the whole operation — a
 * whole transaction, never a statement inside one.
 * Other storage faults (full, I/O, read-only) reject at once, after the
 * failed transaction is rolled back, so the connection stays usable.
 */
export class SqliteConnection {
  readonly db: Database.Database;
  readonly #busyBudgetMs: number;
  readonly #busyWait: NonNullable<ConnectionOptions["busyWait"]>;
  readonly #immediate: (body: () => unknown) => unknown;

  static open(opts: ConnectionOptions): SqliteConnection {
    const busyTimeoutMs = opts.busyTimeoutMs ?? DEFAULT_BUSY_TIMEOUT_MS;
    const busyBudgetMs = opts.busyBudgetMs ?? DEFAULT_BUSY_BUDGET_MS;
    assertMillis("busyTimeoutMs", busyTimeoutMs);
    assertMillis("busyBudgetMs", busyBudgetMs);
    const db = new Database(opts.path, { timeout: Math.max(busyTimeoutMs, OPEN_BUSY_TIMEOUT_MS) });
    try {
      configure(db);
      migrate(db);
      db.pragma(`busy_timeout = ${busyTimeoutMs}`);
      return new SqliteConnection(db, busyBudgetMs, opts.busyWait ?? realBusyWait);
    } catch (err) {
      db.close();
      throw err;
    }
  }

  private constructor(db: Database.Database, busyBudgetMs: number, busyWait: NonNullable<ConnectionOptions["busyWait"]>) {
    this.db = db;
    this.#busyBudgetMs = busyBudgetMs;
    this.#busyWait = busyWait;
    const txn = db.transaction((body: () => unknown) => body());
    this.#immediate = (body) => txn.immediate(body);
  }

  /**
   * Runs `work` (one statement, or a transaction through `write`)
   * synchronously; a storage fault becomes StoreUnavailableError, after
   * lock contention was retried within the busy budget.
   */
  async run<R>(op: string, work: () => R): Promise<R> {
    try {
      return work();
    } catch (err) {
      return this.retry(op, work, err);
    }
  }

  /**
   * `body` as one BEGIN IMMEDIATE transaction (body must be synchronous),
   * retried as a whole like `run`. `then` runs right after the commit, in
   * the same turn of the event loop, so no other task sees the database and
   * whatever `then` updates (the record cache) disagree.
   */
  write<T>(op: string, body: () => T): Promise<T>;
  write<T, R>(op: string, body: () => T, then: (result: T) => R): Promise<R>;
  write<T, R>(op: string, body: () => T, then?: (result: T) => R): Promise<T | R> {
    return this.run(op, () => {
      const result = this.#immediate(body) as T;
      return then === undefined ? result : then(result);
    });
  }

  /**
   * The slow path of `run` after `work` failed with `first` (exported so a
   * hot path can keep its own try/catch instead of allocating a closure per
   * call).
   */
  async retry<R>(op: string, work: () => R, first: unknown): Promise<R> {
    const started = performance.now();
    let err = first;
    let backoffMs = FIRST_BACKOFF_MS;
    for (;;) {
      this.#rollbackIfOpen();
      const fault = storageFault(err);
      if (fault === undefined) throw err;
      const leftMs = this.#busyBudgetMs - (performance.now() - started);
      if (!fault.contention || leftMs <= 0) throw unavailable(op, fault, err);
      await this.#busyWait.sleep(Math.min(leftMs, backoffMs / 2 + (this.#busyWait.random() * backoffMs) / 2));
      backoffMs = Math.min(backoffMs * 2, MAX_BACKOFF_MS);
      try {
        return work();
      } catch (next) {
        err = next;
      }
    }
  }

  /** Checkpoints the WAL into the main file (TRUNCATE), then closes. Idempotent. */
  async close(): Promise<void> {
    if (!this.db.open) return;
    try {
      this.db.pragma("wal_checkpoint(TRUNCATE)");
    } catch {
      // A checkpoint that cannot run now (busy, full) leaves the WAL for the next opener.
    } finally {
      this.db.close();
    }
  }

  /**
   * SQLite rolls some failed transactions back by itself (SQLITE_FULL,
   * SQLITE_IOERR, ...) and better-sqlite3 rolls back the rest; this makes
   * sure, so the next operation does not run inside a dead transaction.
   */
  #rollbackIfOpen(): void {
    if (!this.db.open || !this.db.inTransaction) return;
    try {
      this.db.exec("ROLLBACK");
    } catch {
      // Nothing left to roll back.
    }
  }
}

function configure(db: Database.Database): void {
  const mode = db.pragma("journal_mode = WAL", { simple: true });
  if (mode !== "wal" && mode !== "memory") throw new Error(`could not enable WAL journal mode (got ${String(mode)})`);
  db.pragma("synchronous = FULL");
  db.pragma("secure_delete = ON");
  db.pragma("foreign_keys = ON");
  // SQLite's own page cache, per connection: better-sqlite3 builds SQLite with
  // 16 MB, which a large store fills with pages the record cache
  // (record-cache.ts) already holds decoded: 100,000 links read through the
  // store took 113 MB of anonymous memory, 94 MB at SQLite's usual 2 MB. A
  // page it no longer holds is read again from the OS's file cache.
  db.pragma(`cache_size = -${PAGE_CACHE_KIB}`);
}

/** SQLite's page cache per connection, in KiB (SQLite's own default). */
const PAGE_CACHE_KIB = 2000;
