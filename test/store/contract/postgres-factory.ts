import pg from "pg";
import type { LinkStore } from "../../../src/store/link-store.js";
import { LINKS_CHANNEL, openPostgresStore, type PgLinks } from "../../../src/store/postgres/index.js";
import type { PgServer } from "../../support/postgres.js";
import { atScopeEnd } from "../../support/scope-cleanup.js";
import { FakeSealer } from "../fake-sealer.js";
import { setTimeout as sleep } from "node:timers/promises";
import { NOW_MS } from "../../../src/store/postgres/link-sql.js";
import { T0 } from "../helpers.js";
import type { RawTables, RawValue, RawWhere, StoreFactory, TestClock, TestDatabase } from "./factory.js";

const INT8_OID = 20;
const types = { getTypeParser: ((oid: number, format?: "text") => (oid === INT8_OID ? Number : pg.types.getTypeParser(oid, format))) as typeof pg.types.getTypeParser };

/**
 * The contract's databases on PostgreSQL: a fresh database each. The clock
 * offset is pinned to 0 so raw rows read back the times the suite put in
 * (the offset itself is proven in postgres-clock.test.ts). A raw write is
 * announced like a store's (a NOTIFY that drops every cached record) and
 * waits until every store opened on the database has heard it, as SQLite's
 * data_version makes a raw write visible at once.
 *
 * The database's clock is real time (clock_timestamp()) unless
 * `steppedClock`: then the database gets a clock_timestamp() of its own,
 * ahead of pg_catalog's on the search_path, reading a time the test sets —
 * so the stores' SQL, unchanged, runs on a clock the test moves (the
 * differential test compares it with the memory store's that way).
 */
export function postgresFactory(server: PgServer, opts: { steppedClock?: boolean } = {}): StoreFactory {
  return {
    name: opts.steppedClock === true ? "PostgreSQL (stepped clock)" : "PostgreSQL",
    steppedClock: opts.steppedClock === true,
    async fresh(): Promise<TestDatabase> {
      const url = await server.freshDatabase();
      if (opts.steppedClock === true) await shadowClock(url);
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
      const raw = pgRaw(url, heard);
      return {
        clock: opts.steppedClock === true ? steppedDbClock(raw) : realDbClock(raw),
        open,
        links: async (sealer, opts) => (await open(sealer, opts)).links,
        raw,
        settle: (links: LinkStore) => (links as PgLinks).sync(),
      };
    },
  };
}

/** The test's clock_timestamp(): test_clock.now holds the time in epoch ms (T0 to start). */
async function shadowClock(url: string): Promise<void> {
  const c = new pg.Client({ connectionString: url });
  await c.connect();
  try {
    await c.query(`
      CREATE SCHEMA test_clock;
      CREATE TABLE test_clock.now (ms int8 NOT NULL);
      INSERT INTO test_clock.now VALUES (${T0});
      CREATE FUNCTION test_clock.clock_timestamp() RETURNS timestamptz VOLATILE LANGUAGE sql
        AS $$ SELECT to_timestamp(ms / 1000.0) FROM test_clock.now $$;
      DO $$ BEGIN
        EXECUTE format('ALTER DATABASE %I SET search_path = public, test_clock, pg_catalog', current_database());
      END $$;`);
  } finally {
    await c.end();
  }
}

/** PostgreSQL's own clock: it only moves by waiting. */
function realDbClock(raw: PgRawTables): TestClock {
  const now = async (): Promise<number> => raw.now();
  return {
    stepped: false,
    now,
    async elapse(ms) {
      const target = (await now()) + ms;
      const deadline = Date.now() + ms + 10_000;
      for (let at = await now(); at < target; at = await now()) {
        if (Date.now() > deadline) throw new Error(`the database's clock did not move ${ms} ms in ${ms + 10_000} ms`);
        await sleep(Math.min(target - at, 50) + 1);
      }
    },
    set() {
      throw new Error("PostgreSQL's clock is real time here: open the factory with { steppedClock: true } to set it");
    },
  };
}

/** The shadowed clock_timestamp(), moved by the test. */
function steppedDbClock(raw: PgRawTables): TestClock {
  const set = async (ms: number): Promise<void> => raw.query("UPDATE test_clock.now SET ms = $1", [ms]).then(() => undefined);
  return {
    stepped: true,
    now: () => raw.now(),
    elapse: async (ms) => set((await raw.now()) + ms),
    set,
  };
}

function whereOf(where: RawWhere, first: number): { sql: string; params: string[] } {
  const entries = Object.entries(where);
  if (entries.length === 0) return { sql: "", params: [] };
  return { sql: `WHERE ${entries.map(([c], i) => `${c} = $${first + i}`).join(" AND ")}`, params: entries.map(([, v]) => v) };
}

/** The raw tables, and statements of the test's own. */
interface PgRawTables extends RawTables {
  query(text: string, params?: unknown[]): Promise<Record<string, unknown>[]>;
  /** The database's clock (epoch ms), as the store's statements read it. */
  now(): Promise<number>;
}

function pgRaw(url: string, heard: () => Promise<void>): PgRawTables {
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
    query: q,
    async now() {
      const [row] = await q(`SELECT ${NOW_MS} AS now`);
      return row?.["now"] as number;
    },
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
