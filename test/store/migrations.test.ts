import { describe, expect, it } from "vitest";
import { SqliteConnection } from "../../src/store/sqlite/connection.js";
import {
  LATEST_SCHEMA_VERSION,
  SchemaTooNewError,
  openSqliteStore,
  migrate,
  migrations,
  type Migration,
} from "../../src/store/sqlite/index.js";
import { FakeSealer } from "./fake-sealer.js";
import { useTempStores } from "./helpers.js";

const t = useTempStores();

describe("migrations", () => {
  it("are numbered 1..n without gaps", () => {
    expect(migrations.map((m) => m.version)).toEqual(migrations.map((_, i) => i + 1));
    expect(LATEST_SCHEMA_VERSION).toBe(migrations.length);
  });

  it("creates the schema on first open and records each migration", () => {
    const path = t.dbPath();
    t.open(path);
    const raw = t.raw(path);
    const tables = raw.prepare("SELECT name FROM sqlite_schema WHERE type = 'table' ORDER BY name").pluck().all();
    expect(tables).toEqual(expect.arrayContaining(["links", "key_sentinels", "schema_migrations"]));
    const cols = raw.prepare("SELECT name FROM pragma_table_info('links')").pluck().all();
    expect(cols).toEqual([
      "provider_id", "user_id", "version", "access_token", "token_type", "refresh_token",
      "refresh_token_digest", "expires_at", "extra", "failure_reason", "failed_at", "lease_owner",
      "lease_until", "generation", "created_at", "updated_at", "last_refreshed_at",
      "refresh_sent_at", "refresh_sent_by", "refresh_sent_digest", "failed_digest",
      "account", "granted_scopes",
    ]);
    const applied = raw.prepare("SELECT version FROM schema_migrations ORDER BY version").pluck().all();
    expect(applied).toEqual(migrations.map((m) => m.version));
  });

  it("re-opening does not re-apply anything", async () => {
    const path = t.dbPath();
    const first = t.open(path);
    await first.close();
    const raw = t.raw(path);
    const before = raw.prepare("SELECT version, name, applied_at FROM schema_migrations ORDER BY version").all();
    raw.prepare("UPDATE schema_migrations SET applied_at = 42").run();
    t.open(path);
    t.open(path);
    const after = raw.prepare("SELECT version, applied_at FROM schema_migrations ORDER BY version").all();
    expect(after).toHaveLength(before.length);
    expect(after.every((r) => (r as { applied_at: number }).applied_at === 42)).toBe(true);
    expect(migrate(raw)).toEqual({ from: LATEST_SCHEMA_VERSION, to: LATEST_SCHEMA_VERSION, applied: [] });
  });

  it("refuses a database from a newer version with a clear error, changing nothing", async () => {
    const path = t.dbPath();
    await t.open(path).close();
    const raw = t.raw(path);
    const newer = LATEST_SCHEMA_VERSION + 1;
    raw.prepare("INSERT INTO schema_migrations (version, name, applied_at) VALUES (?, 'from the future', 1)").run(newer);
    const open = () => openSqliteStore({ path, sealer: new FakeSealer() });
    expect(open).toThrow(SchemaTooNewError);
    expect(open).toThrow(new RegExp(`schema version ${newer} is newer than this tokenbroker supports \\(${LATEST_SCHEMA_VERSION}\\)`));
    expect(raw.prepare("SELECT max(version) FROM schema_migrations").pluck().get()).toBe(newer);
  });

  it("applies pending migrations in one transaction: a failing one leaves nothing behind", () => {
    const path = t.dbPath();
    const raw = t.raw(path);
    const broken: Migration[] = [
      ...migrations,
      { version: migrations.length + 1, name: "ok part", up: "CREATE TABLE extra_table (x INTEGER)" },
      { version: migrations.length + 2, name: "broken", up: "CREATE TABLE nope (" },
    ];
    expect(() => migrate(raw, broken)).toThrow();
    const tables = raw.prepare("SELECT name FROM sqlite_schema WHERE type = 'table'").pluck().all();
    expect(tables).toEqual([]);
    // And a later good run applies everything from scratch.
    expect(migrate(raw).applied).toEqual(migrations.map((m) => m.version));
  });

  it("rejects a migration list with gaps", () => {
    const raw = t.raw(t.dbPath());
    const gappy: Migration[] = [{ version: 2, name: "x", up: "SELECT 1" }];
    expect(() => migrate(raw, gappy)).toThrow(/expected 1/);
  });

  it("sets WAL, synchronous=FULL, secure_delete, foreign_keys and a short busy timeout", async () => {
    const conn = SqliteConnection.open({ path: t.dbPath(), busyTimeoutMs: 34 });
    try {
      const db = conn.db;
      expect(db.pragma("journal_mode", { simple: true })).toBe("wal");
      expect(db.pragma("synchronous", { simple: true })).toBe(2); // FULL
      expect(db.pragma("secure_delete", { simple: true })).toBe(1);
      expect(db.pragma("foreign_keys", { simple: true })).toBe(1);
      expect(db.pragma("busy_timeout", { simple: true })).toBe(34);
    } finally {
      await conn.close();
    }
    const dflt = SqliteConnection.open({ path: t.dbPath() });
    expect(dflt.db.pragma("busy_timeout", { simple: true })).toBe(20);
    await dflt.close();
  });

  it("migration 3 adds the sending marker to existing rows as NULL", () => {
    const path = t.dbPath();
    const raw = t.raw(path);
    migrate(raw, migrations.slice(0, 2));
    raw.prepare("INSERT INTO links (provider_id, user_id, version, token_type, created_at, updated_at) VALUES ('p', 'u', 1, 'bearer', 1, 1)").run();
    expect(migrate(raw, migrations.slice(0, 3)).applied).toEqual([3]);
    expect(raw.prepare("SELECT refresh_sent_at, refresh_sent_by, refresh_sent_digest, version FROM links").get()).toEqual({
      refresh_sent_at: null,
      refresh_sent_by: null,
      refresh_sent_digest: null,
      version: 1,
    });
  });

  it("migration 4 adds failed_digest to existing rows as NULL, a failed row included", () => {
    const path = t.dbPath();
    const raw = t.raw(path);
    migrate(raw, migrations.slice(0, 3));
    raw.prepare("INSERT INTO links (provider_id, user_id, version, token_type, failed_at, created_at, updated_at) VALUES ('p', 'u', 2, 'bearer', 5, 1, 5)").run();
    expect(migrate(raw, migrations.slice(0, 4)).applied).toEqual([4]);
    expect(raw.prepare("SELECT failed_digest, failed_at, version FROM links").get()).toEqual({ failed_digest: null, failed_at: 5, version: 2 });
  });

  it("migration 5 adds the caller_tokens table, leaving links as they were", () => {
    const path = t.dbPath();
    const raw = t.raw(path);
    migrate(raw, migrations.slice(0, 4));
    raw.prepare("INSERT INTO links (provider_id, user_id, version, token_type, created_at, updated_at) VALUES ('p', 'u', 2, 'bearer', 1, 5)").run();
    expect(migrate(raw, migrations.slice(0, 5)).applied).toEqual([5]);
    expect(raw.prepare("SELECT count(*) AS n FROM caller_tokens").get()).toEqual({ n: 0 });
    expect(raw.prepare("SELECT version FROM links").get()).toEqual({ version: 2 });
  });

  it("migration 6 adds account and granted_scopes to the links of a version-5 database as NULL; the store reads them back as unknown and a refresh keeps them", async () => {
    const path = t.dbPath();
    const raw = t.raw(path);
    migrate(raw, migrations.slice(0, 5));
    raw.prepare(
      "INSERT INTO links (provider_id, user_id, version, token_type, refresh_token_digest, created_at, updated_at) VALUES ('p', 'u', 2, 'bearer', NULL, 1, 5)",
    ).run();
    expect(migrate(raw).applied).toEqual([6]);
    expect(raw.prepare("SELECT account, granted_scopes, version FROM links").get()).toEqual({ account: null, granted_scopes: null, version: 2 });
    const store = t.links(path);
    const listed = await store.list({ limit: 10 });
    expect(listed.map((m) => [m.account, m.grantedScopes])).toEqual([[null, null]]);
    const key = { providerId: "p", userId: "v" };
    const put = await store.put(key, { accessToken: "a", tokenType: "bearer", refreshToken: "r1", expiresAt: null, extra: {}, account: "octocat", grantedScopes: ["repo", "read:org"] }, 10);
    expect([put.account, put.grantedScopes]).toEqual(["octocat", ["repo", "read:org"]]);
    expect(raw.prepare("SELECT account, granted_scopes FROM links WHERE user_id = 'v'").get()).toEqual({ account: "octocat", granted_scopes: "repo read:org" });
  });

  it("close checkpoints the WAL (TRUNCATE) and is idempotent", async () => {
    const path = t.dbPath();
    const store = t.links(path);
    await store.put({ providerId: "p", userId: "u" }, { accessToken: "a", tokenType: "Bearer", refreshToken: "r", expiresAt: null, extra: {} }, 1);
    await store.close();
    await store.close();
    const { statSync, existsSync } = await import("node:fs");
    const wal = `${path}-wal`;
    expect(!existsSync(wal) || statSync(wal).size === 0).toBe(true);
    await expect(store.get({ providerId: "p", userId: "u" })).rejects.toThrow();
  });
});
