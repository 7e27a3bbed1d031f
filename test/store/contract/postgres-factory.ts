import pg from "pg";
import type { LinkStore } from "../../../src/store/link-store.js";
import { LINKS_CHANNEL, openPostgresStore, type PgLinks } from "../../../src/store/postgres/index.js";
import type { PgServer } from "../../support/postgres.js";
import { atScopeEnd } from "../../support/scope-cleanup.js";
import { FakeSealer } from "../fake-sealer.js";
import type { RawTables, RawValue, RawWhere, StoreFactory, TestDatabase } from "./factory.js";

const INT8_OID = 20;
const types = { getTypeParser: ((oid: number, format?: "text") => (oid === INT8_OID ? Number : pg.types.getTypeParser(oid, format))) as typeof pg.types.getTypeParser };

/**
 * The contract's databases on PostgreSQL: a fresh database each. The clock
 * offset is pinned to 0 so raw rows read back the times the suite put in
 * (the offset itself is proven in postgres-clock.test.ts). A raw write is
 * announced like a store's (a NOTIFY that drops every cached record) and
 * waits until every store opened on the database has heard it, as SQLite's
 * data_version makes a raw write visible at once.
 */
export function postgresFactory(server: PgServer): StoreFactory {
  return {
    name: "PostgreSQL",
    async fresh(): Promise<TestDatabase> {
      const url = await server.freshDatabase();
      const opened: PgLinks[] = [];
      const open = async (sealer = new FakeSealer(), opts: { cacheEntries?: number } = {}) => {
        const store = await openPostgresStore({ url, sealer, clockOffsetMs: 0, poolSize: 4, ...opts });
        atScopeEnd(() => store.close());
        opened.push(store.links);
        return store;
      };
      const heard = async (): Promise<void> => {
        for (const links of opened) await links.sync();
      };
      return {
        open,
        links: async (sealer, opts) => (await open(sealer, opts)).links,
        raw: pgRaw(url, heard),
        settle: (links: LinkStore) => (links as PgLinks).sync(),
      };
    },
  };
}

function whereOf(where: RawWhere, first: number): { sql: string; params: string[] } {
  const entries = Object.entries(where);
  if (entries.length === 0) return { sql: "", params: [] };
  return { sql: `WHERE ${entries.map(([c], i) => `${c} = $${first + i}`).join(" AND ")}`, params: entries.map(([, v]) => v) };
}

function pgRaw(url: string, heard: () => Promise<void>): RawTables {
  let client: Promise<pg.Client> | undefined;
  const conn = (): Promise<pg.Client> => {
    client ??= (async () => {
      const c = new pg.Client({ connectionString: url, types });
      await c.connect();
      atScopeEnd(() => c.end());
      return c;
    })();
    return client;
  };
  const q = async (text: string, params: unknown[] = []): Promise<Record<string, unknown>[]> => (await (await conn()).query(text, params)).rows;
  return {
    async select(columns, where = {}, table = "links") {
      const w = whereOf(where, 1);
      const order = table === "links" ? "ORDER BY provider_id, user_id" : "";
      return q(`SELECT ${columns === "*" ? "*" : columns.join(", ")} FROM ${table} ${w.sql} ${order}`, w.params);
    },
    async link(key) {
      const [row] = await q("SELECT * FROM links WHERE provider_id = $1 AND user_id = $2", [key.providerId, key.userId]);
      if (row === undefined) throw new Error(`no row for ${key.providerId}/${key.userId}`);
      return row;
    },
    async update(values, where = {}) {
      const sets: string[] = [];
      const params: unknown[] = [];
      for (const [column, value] of Object.entries(values) as Array<[string, RawValue]>) {
        if (value !== null && typeof value === "object" && "copyOf" in value) {
          if (value.from === undefined) sets.push(`${column} = ${value.copyOf}`);
          else {
            params.push(value.from.user_id);
            sets.push(`${column} = (SELECT ${value.copyOf} FROM links WHERE user_id = $${params.length})`);
          }
        } else {
          params.push(value);
          sets.push(`${column} = $${params.length}`);
        }
      }
      const w = whereOf(where, params.length + 1);
      await q(`UPDATE links SET ${sets.join(", ")} ${w.sql}`, [...params, ...w.params]);
      await q("SELECT pg_notify($1, '* raw')", [LINKS_CHANNEL]);
      await heard();
    },
    async insertLink(row) {
      const columns = Object.keys(row);
      await q(`INSERT INTO links (${columns.join(", ")}) VALUES (${columns.map((_, i) => `$${i + 1}`).join(", ")})`, Object.values(row));
      await q("SELECT pg_notify($1, '* raw')", [LINKS_CHANNEL]);
      await heard();
    },
    async writeStamp() {
      // Any write to a row gives it a new xmin; a read leaves them all alone.
      return (await q("SELECT provider_id, user_id, xmin::text AS xmin FROM links ORDER BY provider_id, user_id")).map((r) => `${String(r["user_id"])}:${String(r["xmin"])}`).join(",");
    },
  };
}
