import Database from "better-sqlite3";
import type { CallerTokenRow } from "../caller-token-store.js";
import type { AuthFlowRow, DeviceFlowRow } from "../flow-codec.js";
import type { LinkRow } from "../row-codec.js";
import type { CopySource, SentinelRow, TableCounts } from "../store-copy.js";
import { describeHolders, findHolders, type FileHolder, type HolderScan } from "./holders.js";
import { LATEST_SCHEMA_VERSION } from "./migrations.js";

/** How long taking the source's write lock may wait for a writer's transaction to end. */
const LOCK_WAIT_MS = 2000;

export interface SqliteCopySource extends CopySource {
  /** What the /proc scan could not see (another user's processes), for the operator. */
  readonly scan: Pick<HolderScan, "supported" | "unreadable">;
  close(): void;
}

/**
 * The source of a copy is in use: another process holds the file (or its
 * -wal/-shm) open, or its write lock. A refresh that process committed
 * after the copy would be lost to the target, so nothing is copied; once it
 * has stopped, running again succeeds.
 */
export class SourceInUseError extends Error {
  override readonly name = "SourceInUseError";
  constructor(
    message: string,
    readonly holders: readonly FileHolder[],
  ) {
    super(message);
  }
}

/**
 * A SQLite store file opened for `store migrate` (docs/design.md §4.6).
 * Refused while another process holds it open (found through /proc, see
 * holders.ts): a daemon still serving it would commit refreshes the copy
 * never sees. Then the source's write lock is taken (BEGIN IMMEDIATE) and
 * held until close(), so no writer slips in between the check and the end
 * of the copy, and every read is in that one transaction: one consistent
 * snapshot. /proc is looked at again once the lock is held and once more
 * before the target commits (`beforeCommit`): a process that opened the
 * file meanwhile (a daemon started during the copy) rolls the copy back.
 * Nothing is written to the source; close() rolls back. The file must be at
 * this build's schema version: a source is never migrated by the copy.
 */
export function openSqliteCopySource(path: string): SqliteCopySource {
  const scanned = refuseIfHeld(path, "is in use");
  // Read-write only to take the write lock: the copy writes nothing.
  const db = new Database(path, { fileMustExist: true, timeout: LOCK_WAIT_MS });
  try {
    try {
      db.exec("BEGIN IMMEDIATE");
    } catch (err) {
      if ((err as { code?: string }).code !== "SQLITE_BUSY") throw err;
      throw new SourceInUseError(`${path} is in use: another connection holds its write lock${scanned.supported ? " (no process holding the file open is visible in /proc)" : ""}; stop it and run again`, []);
    }
    refuseIfHeld(path, "is in use");
    const table = db.prepare("SELECT 1 FROM sqlite_schema WHERE type = 'table' AND name = 'schema_migrations'").get();
    const version = table === undefined ? 0 : (db.prepare<[], { v: number | null }>("SELECT max(version) AS v FROM schema_migrations").get()?.v ?? 0);
    if (version !== LATEST_SCHEMA_VERSION) {
      throw new Error(`${path} is at schema version ${version}, this build's is ${LATEST_SCHEMA_VERSION}: run this build's daemon on it once (it migrates at start), stop it, and migrate again`);
    }
  } catch (err) {
    db.close();
    throw err;
  }
  const all = <R>(sql: string): R[] => db.prepare<[], R>(sql).all();
  return {
    scan: { supported: scanned.supported, unreadable: scanned.unreadable },
    async counts(): Promise<TableCounts> {
      const n = (t: string): number => db.prepare<[], { n: number }>(`SELECT count(*) AS n FROM ${t}`).get()?.n ?? 0;
      return { links: n("links"), auth_flows: n("auth_flows"), device_flows: n("device_flows"), key_sentinels: n("key_sentinels"), caller_tokens: n("caller_tokens") };
    },
    async *linkBatches(size: number): AsyncIterable<LinkRow[]> {
      const page = db.prepare<[string, string, number], LinkRow>(
        "SELECT * FROM links WHERE (provider_id, user_id) > (?, ?) ORDER BY provider_id, user_id LIMIT ?",
      );
      let after: [string, string] = ["", ""];
      for (;;) {
        const rows = page.all(after[0], after[1], size);
        if (rows.length > 0) yield rows;
        const last = rows.at(-1);
        if (rows.length < size || last === undefined) return;
        after = [last.provider_id, last.user_id];
      }
    },
    authFlows: async () => all<AuthFlowRow>("SELECT * FROM auth_flows ORDER BY state_hash"),
    deviceFlows: async () => all<DeviceFlowRow>("SELECT * FROM device_flows ORDER BY session_hash"),
    sentinels: async () => all<SentinelRow>("SELECT key_id, envelope, created_at FROM key_sentinels ORDER BY created_at, key_id"),
    callerTokens: async () => all<CallerTokenRow>("SELECT * FROM caller_tokens ORDER BY id"),
    async beforeCommit() {
      refuseIfHeld(path, "was opened by another process during the copy");
    },
    close() {
      if (!db.open) return;
      db.exec("ROLLBACK");
      db.close();
    },
  };
}

function refuseIfHeld(path: string, what: string): HolderScan {
  const scan = findHolders(path);
  if (scan.holders.length > 0) {
    throw new SourceInUseError(`${path} ${what}: ${describeHolders(scan.holders)}; stop it and run again (a refresh it commits after the copy would be lost)`, scan.holders);
  }
  return scan;
}
