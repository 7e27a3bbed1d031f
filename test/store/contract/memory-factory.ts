import { MemoryDatabase, openMemoryStore } from "../../../src/store/memory/index.js";
import type { LinkRow } from "../../../src/store/row-codec.js";
import { atScopeEnd } from "../../support/scope-cleanup.js";
import { FakeSealer } from "../fake-sealer.js";
import { T0 } from "../helpers.js";
import { steppedClock, type RawTables, type RawValue, type RawWhere, type StoreFactory, type TestDatabase } from "./factory.js";

/**
 * The contract's databases in memory: a fresh MemoryDatabase each, every
 * store opened on it sharing it as processes share a SQLite file. The
 * contract seals with the FakeSealer here too, so the same raw assertions
 * hold; the simulation opens with the default PlainSealer. The database's
 * clock is a stepped one starting at T0, which the tests move.
 */
export const memoryFactory: StoreFactory = {
  name: "memory",
  steppedClock: true,
  async fresh(): Promise<TestDatabase> {
    const clock = steppedClock(T0);
    const database = new MemoryDatabase({ clock: { now: clock.read } });
    const open = async (sealer = new FakeSealer(), opts: { cacheEntries?: number } = {}) => {
      const store = openMemoryStore({ database, sealer, ...opts });
      atScopeEnd(() => store.close());
      return store;
    };
    return {
      clock,
      open,
      links: async (sealer, opts) => (await open(sealer, opts)).links,
      raw: memoryRaw(database),
      settle: async () => undefined,
    };
  },
};

type Row = Record<string, unknown>;

const matches = (row: Row, where: RawWhere): boolean => Object.entries(where).every(([c, v]) => row[c] === v);
const project = (row: Row, columns: string[] | "*"): Row => (columns === "*" ? { ...row } : Object.fromEntries(columns.map((c) => [c, row[c]])));

/** Every column of `links`, NULL (or 0 for generation) unless given, as the table's defaults are. */
function linkRow(given: Record<string, string | number | Buffer | null>): LinkRow {
  const nulls = ["access_token", "refresh_token", "refresh_token_digest", "expires_at", "extra", "failure_reason", "failed_at", "lease_owner", "lease_until", "last_refreshed_at", "refresh_sent_at", "refresh_sent_by", "refresh_sent_digest", "failed_digest"];
  return { ...Object.fromEntries(nulls.map((c) => [c, null])), generation: 0, ...given } as unknown as LinkRow;
}

function memoryRaw(db: MemoryDatabase): RawTables {
  const tables = (table: string): Map<string, Row> => {
    const t = { links: db.links, auth_flows: db.authFlows, device_flows: db.deviceFlows, key_sentinels: db.sentinels }[table];
    if (t === undefined) throw new Error(`no table ${table}`);
    return t as unknown as Map<string, Row>;
  };
  const keyOf = (row: Row): string => `${String(row["provider_id"])}\u0000${String(row["user_id"])}`;
  const linkRows = (): Row[] => [...tables("links").values()].sort((a, b) => Buffer.compare(Buffer.from(keyOf(a)), Buffer.from(keyOf(b))));
  return {
    async select(columns, where = {}, table = "links") {
      const rows = table === "links" ? linkRows() : [...tables(table).values()];
      return rows.filter((r) => matches(r, where)).map((r) => project(r, columns));
    },
    async link(key) {
      const row = db.links.get(`${key.providerId}\u0000${key.userId}`);
      if (row === undefined) throw new Error(`no row for ${key.providerId}/${key.userId}`);
      return { ...row };
    },
    async update(values, where = {}) {
      const links = tables("links");
      for (const [key, row] of [...links]) {
        if (!matches(row, where)) continue;
        const next = { ...row };
        for (const [column, value] of Object.entries(values) as Array<[string, RawValue]>) {
          if (value !== null && typeof value === "object" && "copyOf" in value) {
            const source = value.from === undefined ? row : linkRows().find((r) => r["user_id"] === value.from?.user_id);
            next[column] = source?.[value.copyOf] ?? null;
          } else next[column] = value;
        }
        links.set(key, next);
      }
      db.wrote();
    },
    async insertLink(row) {
      const full = linkRow(row);
      db.links.set(`${full.provider_id}\u0000${full.user_id}`, full);
      db.wrote();
    },
    async writeStamp() {
      return db.writes;
    },
  };
}
