import Database from "better-sqlite3";
import type { AuthFlowRow, DeviceFlowRow } from "../flow-codec.js";
import type { LinkRow } from "../row-codec.js";
import type { CopySource, SentinelRow, TableCounts } from "../store-copy.js";
import { LATEST_SCHEMA_VERSION } from "./migrations.js";

export interface SqliteCopySource extends CopySource {
  close(): void;
}

/**
 * A SQLite store file opened read-only for `store migrate`: one read
 * transaction spans every read, so the copy is one consistent snapshot (WAL
 * readers see the state as of their first read) even if a daemon still
 * writes. The file must be at this build's schema version: a source is
 * never migrated by the copy.
 */
export function openSqliteCopySource(path: string): SqliteCopySource {
  const db = new Database(path, { readonly: true, fileMustExist: true });
  try {
    const table = db.prepare("SELECT 1 FROM sqlite_schema WHERE type = 'table' AND name = 'schema_migrations'").get();
    const version = table === undefined ? 0 : (db.prepare<[], { v: number | null }>("SELECT max(version) AS v FROM schema_migrations").get()?.v ?? 0);
    if (version !== LATEST_SCHEMA_VERSION) {
      throw new Error(`${path} is at schema version ${version}, this build's is ${LATEST_SCHEMA_VERSION}: run this build's daemon on it once (it migrates at start), stop it, and migrate again`);
    }
    db.exec("BEGIN");
  } catch (err) {
    db.close();
    throw err;
  }
  const all = <R>(sql: string): R[] => db.prepare<[], R>(sql).all();
  return {
    async counts(): Promise<TableCounts> {
      const n = (t: string): number => db.prepare<[], { n: number }>(`SELECT count(*) AS n FROM ${t}`).get()?.n ?? 0;
      return { links: n("links"), auth_flows: n("auth_flows"), device_flows: n("device_flows"), key_sentinels: n("key_sentinels") };
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
    close() {
      if (!db.open) return;
      db.exec("ROLLBACK");
      db.close();
    },
  };
}
