/**
 * What only the PostgreSQL store does (docs/design.md §4.5): migrations
 * under an advisory lock when many daemons start at once, a newer schema
 * refused unchanged, an unreachable server as StoreUnavailableError (and
 * back by itself), and times kept in the database's clock.
 */
import { describe, expect, it } from "vitest";
import pg from "pg";
import { StoreUnavailableError } from "../../src/store/store-errors.js";
import { LATEST_SCHEMA_VERSION, migrate as migratePg, migrations, openPostgresStore } from "../../src/store/postgres/index.js";
import { SchemaTooNewError } from "../../src/store/migration.js";
import { usePostgres } from "../support/postgres.js";
import { atScopeEnd } from "../support/scope-cleanup.js";
import { FakeSealer } from "./fake-sealer.js";
import { KEY, T0, tokens } from "./helpers.js";

const server = await usePostgres();

async function raw(url: string): Promise<pg.Client> {
  const c = new pg.Client({ connectionString: url });
  await c.connect();
  atScopeEnd(() => c.end());
  return c;
}

async function open(url: string, opts: Partial<Parameters<typeof openPostgresStore>[0]> = {}) {
  const store = await openPostgresStore({ url, sealer: new FakeSealer(), poolSize: 2, ...opts });
  atScopeEnd(() => store.close());
  return store;
}

describe.skipIf(typeof server === "string")(`the PostgreSQL store${typeof server === "string" ? ` (${server})` : ""}`, () => {
  it("eight stores opening a fresh database at once apply each migration exactly once", async () => {
    if (typeof server === "string") return;
    const url = await server.freshDatabase();
    await Promise.all(Array.from({ length: 8 }, () => open(url)));
    const c = await raw(url);
    const { rows } = await c.query("SELECT version, name FROM schema_migrations ORDER BY version");
    expect(rows.map((r: { version: string }) => Number(r.version))).toEqual(migrations.map((m) => m.version));
    expect(LATEST_SCHEMA_VERSION).toBe(migrations.length);
  });

  it("migration 6 on a version-5 database: existing links get account and granted_scopes NULL, the store reads them as unknown and writes them", async () => {
    if (typeof server === "string") return;
    const url = await server.freshDatabase();
    const c = await raw(url);
    await migratePg(c, migrations.slice(0, 5));
    await c.query("INSERT INTO links (provider_id, user_id, version, token_type, created_at, updated_at) VALUES ('p', 'u', 2, 'bearer', 1, 5)");
    const store = await open(url);
    const { rows } = await c.query("SELECT account, granted_scopes, version::int AS version FROM links");
    expect(rows).toEqual([{ account: null, granted_scopes: null, version: 2 }]);
    expect((await store.links.list({ limit: 10 })).map((m) => [m.account, m.grantedScopes])).toEqual([[null, null]]);
    await store.links.put(KEY, tokens({ account: "octocat", grantedScopes: ["repo", "read:org"] }), T0);
    const { rows: written } = await c.query("SELECT account, granted_scopes FROM links WHERE user_id = $1", [KEY.userId]);
    expect(written).toEqual([{ account: "octocat", granted_scopes: "repo read:org" }]);
    const { rows: applied } = await c.query("SELECT max(version)::int AS v FROM schema_migrations");
    expect(applied[0]).toEqual({ v: 6 });
  });

  it("refuses a database from a newer version with a clear error, changing nothing", async () => {
    if (typeof server === "string") return;
    const url = await server.freshDatabase();
    await (await open(url)).close();
    const c = await raw(url);
    await c.query("INSERT INTO schema_migrations (version, name, applied_at) VALUES ($1, 'from the future', 1)", [LATEST_SCHEMA_VERSION + 1]);
    const err: unknown = await openPostgresStore({ url, sealer: new FakeSealer() }).catch((e: unknown) => e);
    expect(err).toBeInstanceOf(SchemaTooNewError);
    expect(String(err)).toMatch(new RegExp(`schema version ${LATEST_SCHEMA_VERSION + 1} is newer than this tokenbroker supports \\(${LATEST_SCHEMA_VERSION}\\)`));
    const { rows } = await c.query("SELECT max(version)::int AS v FROM schema_migrations");
    expect(rows[0]).toEqual({ v: LATEST_SCHEMA_VERSION + 1 });
  });

  it("a constraint violation passes through unchanged; a server that went away is StoreUnavailableError, and the store recovers", async () => {
    if (typeof server === "string") return;
    const url = await server.freshDatabase();
    const store = await open(url);
    const flow = { stateHash: "same", ...KEY, codeVerifier: null, redirectAfter: null, createdAt: T0, expiresAt: T0 + 1 };
    await store.flows.createAuthFlow(flow);
    const dup: unknown = await store.flows.createAuthFlow(flow).catch((e: unknown) => e);
    expect(dup).toBeInstanceOf(pg.DatabaseError);
    expect(dup).toMatchObject({ code: "23505" });

    await store.links.put(KEY, tokens(), T0);
    // Every connection of this database is killed, as a server restart would.
    const c = await raw(url);
    const healthChanges: boolean[] = [];
    store.onHealth((h) => healthChanges.push(h.serving));
    await c.query("SELECT pg_terminate_backend(pid) FROM pg_stat_activity WHERE datname = current_database() AND pid <> pg_backend_pid()");
    const err: unknown = await store.links.commitRefresh(KEY, { version: 1, refreshToken: "rt-1" }, tokens({ refreshToken: "rt-2" }), T0 + 1).then(() => undefined, (e: unknown) => e);
    if (err !== undefined) {
      // The pool may already have replaced the connection; if not, the fault is a StoreUnavailableError.
      expect(err).toBeInstanceOf(StoreUnavailableError);
      expect((err as StoreUnavailableError).message).not.toMatch(/rt-|postgres:\/\//);
    }
    // Back by itself: the pool reconnects, the listener LISTENs again.
    // (A listener still reconnecting does not stop serving: only the cache waits for it.)
    for (let i = 0; i < 50 && !(store.health().serving && store.health().listener === true); i++) await new Promise((r) => setTimeout(r, 100));
    expect(store.health()).toEqual({ serving: true, database: true, listener: true });
    const rec = await store.links.get(KEY);
    expect(rec?.version).toBe(err === undefined ? 2 : 1);
    expect(healthChanges.at(-1) ?? true).toBe(true);
  });

  it("a server that cannot be reached at all: StoreUnavailableError naming the operation, never the URL", async () => {
    if (typeof server === "string") return;
    const url = await server.freshDatabase();
    const store = await open(url, { listen: false, connectTimeoutMs: 1000 });
    await store.links.put(KEY, tokens(), T0);
    const name = new URL(url).pathname.slice(1);
    const admin = await raw(url.replace(/\/[^/?]*(\?.*)?$/, "/postgres$1"));
    // No new connections to this database, and the existing ones gone: like a server that is down.
    await admin.query(`ALTER DATABASE ${name} ALLOW_CONNECTIONS false`);
    await admin.query("SELECT pg_terminate_backend(pid) FROM pg_stat_activity WHERE datname = $1", [name]);
    let err: unknown;
    for (let i = 0; i < 3 && err === undefined; i++) err = await store.links.readLease(KEY).then(() => undefined, (e: unknown) => e);
    expect(err).toBeInstanceOf(StoreUnavailableError);
    expect(err).toMatchObject({ operation: "links.readLease", retryAfterMs: expect.any(Number) });
    expect(String(err)).not.toContain(url);
    expect(store.health().serving).toBe(false);
    await admin.query(`ALTER DATABASE ${name} ALLOW_CONNECTIONS true`);
    // A pooled connection the server closed may fail one more call before the pool drops it.
    let lease: unknown = "unanswered";
    for (let i = 0; i < 3 && lease === "unanswered"; i++) lease = await store.links.readLease(KEY).catch(() => "unanswered");
    expect(lease).toBeNull();
    expect(store.health().serving).toBe(true);
  });

  it("keeps times in the database's clock: a host whose clock is 10 minutes fast sees the same instants in its own clock, and leases are judged by the database's", async () => {
    if (typeof server === "string") return;
    const url = await server.freshDatabase();
    const SKEW = 600_000;
    const honest = await open(url, { clockOffsetMs: 0 });
    const fast = await open(url, { clockOffsetMs: SKEW });
    await honest.links.put(KEY, tokens(), T0);
    const claim = await honest.links.claimLease(KEY, "a", 15_000, null);
    if (!claim.claimed) throw new Error("expected a claim");
    // clock_timestamp(): real time, which the honest host's clock is.
    expect(Math.abs(claim.now - Date.now())).toBeLessThan(5000);
    expect(await fast.links.confirmLease(KEY, claim.lease, 1, 15_000, { mark: "sending" })).toBe(true);

    // The fast host sees the lease, the mark, the read's now (and the token's expiry) 10 minutes later by
    // its clock, all alike, so their differences are the database's exactly.
    const seenHonest = await honest.links.readLease(KEY);
    const seenFast = await fast.links.readLease(KEY);
    if (seenHonest == null || seenFast == null) throw new Error("expected a lease");
    expect(seenFast).toEqual({ ...seenHonest, until: seenHonest.until + SKEW, sending: { at: (seenHonest.sending?.at ?? 0) + SKEW }, now: expect.any(Number) });
    expect(seenFast.now - SKEW).toBeGreaterThanOrEqual(seenHonest.now);
    expect(seenFast.now - SKEW - seenHonest.now).toBeLessThan(5000);
    expect(seenFast.until - (seenFast.sending?.at ?? 0)).toBe(15_000);
    expect((await fast.links.get(KEY))?.expiresAt).toBe(T0 + 3_600_000 + SKEW);

    // A host whose own clock is fast cannot take a live lease: expiry is judged by the database's clock.
    expect(await fast.links.claimLease(KEY, "b", 15_000, claim.lease, { onlyIfExpired: true })).toMatchObject({ claimed: false, held: { owner: "a", until: seenFast.until } });
    expect(await honest.links.claimLease(KEY, "b", 15_000, claim.lease, { onlyIfExpired: true })).toMatchObject({ claimed: false, held: { owner: "a" } });
  });
});
