import { join } from "node:path";
import Database from "better-sqlite3";
import { openSqliteStore } from "../../../src/store/sqlite/index.js";
import { atScopeEnd } from "../../support/scope-cleanup.js";
import { tempDir } from "../../support/temp-dir.js";
import { FakeSealer } from "../fake-sealer.js";
import { T0 } from "../helpers.js";
import { steppedClock, type RawTables, type RawValue, type RawWhere, type StoreFactory, type TestDatabase } from "./factory.js";

/** The contract's databases on SQLite: a file in a fresh temp dir each; every store opened on it has the same stepped clock, starting at T0. */
export const sqliteFactory: StoreFactory = {
  name: "SQLite",
  steppedClock: true,
  async fresh(): Promise<TestDatabase> {
    const path = join(tempDir("tb-store-"), "links.db");
    const clock = steppedClock(T0);
    const open = async (sealer = new FakeSealer(), opts: { cacheEntries?: number } = {}) => {
      const store = openSqliteStore({ path, sealer, clock: { now: clock.read }, ...opts });
      atScopeEnd(() => store.close());
      return store;
    };
    return {
      clock,
      open,
      links: async (sealer, opts) => (await open(sealer, opts)).links,
      raw: sqliteRaw(path),
      settle: async () => undefined,
    };
  },
};

function whereOf(where: RawWhere): { sql: string; params: string[] } {
  const entries = Object.entries(where);
  if (entries.length === 0) return { sql: "", params: [] };
  return { sql: `WHERE ${entries.map(([c]) => `${c} = ?`).join(" AND ")}`, params: entries.map(([, v]) => v) };
}

function sqliteRaw(path: string): RawTables {
  let db: Database.Database | undefined;
  const conn = (): Database.Database => {
    if (db === undefined) {
      db = new Database(path, { timeout: 5000 });
      const opened = db;
      atScopeEnd(() => opened.close());
    }
    return db;
  };
  return {
    async select(columns, where = {}, table = "links") {
      const w = whereOf(where);
      const order = table === "links" ? "ORDER BY provider_id, user_id" : "";
      return conn().prepare(`SELECT ${columns === "*" ? "*" : columns.join(", ")} FROM ${table} ${w.sql} ${order}`).all(...w.params) as Record<string, unknown>[];
    },
    async link(key) {
      const row = conn().prepare("SELECT * FROM links WHERE provider_id = ? AND user_id = ?").get(key.providerId, key.userId);
      if (row === undefined) throw new Error(`no row for ${key.providerId}/${key.userId}`);
      return row as Record<string, unknown>;
    },
    async update(values, where = {}) {
      const sets: string[] = [];
      const params: unknown[] = [];
      for (const [column, value] of Object.entries(values) as Array<[string, RawValue]>) {
        if (value !== null && typeof value === "object" && "copyOf" in value) {
          if (value.from === undefined) sets.push(`${column} = ${value.copyOf}`);
          else {
            sets.push(`${column} = (SELECT ${value.copyOf} FROM links WHERE user_id = ?)`);
            params.push(value.from.user_id);
          }
        } else {
          sets.push(`${column} = ?`);
          params.push(value);
        }
      }
      const w = whereOf(where);
      conn().prepare(`UPDATE links SET ${sets.join(", ")} ${w.sql}`).run(...params, ...w.params);
    },
    async insertLink(row) {
      const columns = Object.keys(row);
      conn().prepare(`INSERT INTO links (${columns.join(", ")}) VALUES (${columns.map(() => "?").join(", ")})`).run(...Object.values(row));
    },
    async writeStamp() {
      return conn().prepare("PRAGMA data_version").pluck().get();
    },
  };
}
