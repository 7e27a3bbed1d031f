/**
 * Every PostgreSQL statement has a client-side deadline (docs/design.md
 * §4.5, issue 18 item 4): a connection whose path goes silent — the server
 * alive, nothing coming back, no FIN, no RST — fails the call as
 * StoreUnavailableError within `query_timeout`, and that connection is
 * destroyed rather than pooled again. A proxy between the store and the
 * real server freezes the path.
 */
import { describe, expect, it } from "vitest";
import { PgConnection } from "../../src/store/postgres/connection.js";
import { openPostgresStore } from "../../src/store/postgres/index.js";
import { StoreUnavailableError } from "../../src/store/store-errors.js";
import { PgProxy } from "../support/pg-proxy.js";
import { pollUntil } from "../support/poll.js";
import { usePostgres } from "../support/postgres.js";
import { atScopeEnd } from "../support/scope-cleanup.js";
import { FakeSealer } from "./fake-sealer.js";

const server = await usePostgres();

const STATEMENT_TIMEOUT_MS = 1000;
const QUERY_TIMEOUT_MS = 1500;
const CONNECT_TIMEOUT_MS = 1000;
/** What a loaded 2-core host may add to a timer. */
const SLACK_MS = 700;

async function frozenRig() {
  if (typeof server === "string") throw new Error(server);
  const url = await server.freshDatabase();
  const proxy = await PgProxy.start(url);
  atScopeEnd(() => proxy.close());
  const conn = await PgConnection.open({
    url: proxy.rewrite(url),
    poolSize: 2,
    statementTimeoutMs: STATEMENT_TIMEOUT_MS,
    queryTimeoutMs: QUERY_TIMEOUT_MS,
    connectTimeoutMs: CONNECT_TIMEOUT_MS,
    clockOffsetMs: 0,
  });
  atScopeEnd(() => conn.close());
  return { proxy, conn };
}

/** How long `work` took to reject, and with what. */
async function timedFailure(work: () => Promise<unknown>): Promise<{ ms: number; err: unknown }> {
  const t0 = performance.now();
  const err = await work().then(
    () => undefined,
    (e: unknown) => e,
  );
  return { ms: performance.now() - t0, err };
}


describe.skipIf(typeof server === "string")(`a PostgreSQL connection gone silent${typeof server === "string" ? ` (${server})` : ""}`, () => {
  it("fails the statement as StoreUnavailableError within query_timeout and destroys that connection; new ones time out connecting", async () => {
    const { proxy, conn } = await frozenRig();
    await conn.query("warm", "SELECT 1");
    expect(conn.pool.totalCount).toBe(1);
    proxy.freeze();

    const silent = await timedFailure(() => conn.query("links.get", "SELECT 1"));
    expect(silent.err).toBeInstanceOf(StoreUnavailableError);
    expect(silent.err).toMatchObject({ operation: "links.get", code: "PG_QUERY_TIMEOUT" });
    expect(silent.ms).toBeGreaterThanOrEqual(QUERY_TIMEOUT_MS - 50);
    expect(silent.ms).toBeLessThan(QUERY_TIMEOUT_MS + SLACK_MS);
    // Not given back: a pooled connection with a statement still in flight would hang the next caller.
    expect(conn.pool.totalCount).toBe(0);
    expect(conn.reachable).toBe(false);

    // A fresh connection through the same silent path: connectionTimeoutMillis bounds it.
    const connecting = await timedFailure(() => conn.query("links.readLease", "SELECT 1"));
    expect(connecting.err).toBeInstanceOf(StoreUnavailableError);
    expect(connecting.err).toMatchObject({ operation: "links.readLease" });
    expect(connecting.ms).toBeLessThan(CONNECT_TIMEOUT_MS + SLACK_MS);
    console.info(`frozen path: statement failed after ${Math.round(silent.ms)} ms (query_timeout ${QUERY_TIMEOUT_MS}), connect after ${Math.round(connecting.ms)} ms`);

    proxy.thaw();
    expect(await conn.query<{ one: number }>("links.get", "SELECT 1 AS one")).toEqual([{ one: 1 }]);
    expect(conn.reachable).toBe(true);
    // The destroyed connections' server sides end once the path carries their close: only the live one stays.
    await pollUntil("the destroyed connections are gone at the proxy", () => proxy.stats().open, (n) => n === conn.pool.totalCount, 5000);
  });

  it("a transaction whose statement times out fails once, without waiting a second deadline for its ROLLBACK", async () => {
    const { proxy, conn } = await frozenRig();
    await conn.query("warm", "SELECT 1");
    proxy.freeze();
    const failed = await timedFailure(() => conn.tx("links.commitRefresh", (q) => q.query("SELECT 1")));
    expect(failed.err).toBeInstanceOf(StoreUnavailableError);
    expect(failed.err).toMatchObject({ operation: "links.commitRefresh", code: "PG_QUERY_TIMEOUT" });
    expect(failed.ms).toBeLessThan(QUERY_TIMEOUT_MS + SLACK_MS);
    expect(conn.pool.totalCount).toBe(0);
    proxy.thaw();
    expect(await conn.tx("links.commitRefresh", (q) => q.query<{ one: number }>("SELECT 1 AS one"))).toEqual([{ one: 1 }]);
  });

  it("a server that answers in time is not cut off: statement_timeout (57014) comes first, and the connection stays pooled", async () => {
    const { conn } = await frozenRig();
    const slow = await timedFailure(() => conn.query("links.get", "SELECT pg_sleep(5)"));
    expect(slow.err).toMatchObject({ code: "57014" });
    expect(slow.ms).toBeLessThan(QUERY_TIMEOUT_MS);
    expect(conn.pool.totalCount).toBe(1);
  });

  it("closing over a silent path does not hang: the pool and the LISTEN connection say goodbye, then their sockets go", async () => {
    if (typeof server === "string") return;
    const url = await server.freshDatabase();
    const proxy = await PgProxy.start(url);
    atScopeEnd(() => proxy.close());
    const store = await openPostgresStore({ url: proxy.rewrite(url), sealer: new FakeSealer(), poolSize: 2, clockOffsetMs: 0, statementTimeoutMs: STATEMENT_TIMEOUT_MS });
    await store.links.count();
    proxy.freeze();
    const t0 = performance.now();
    await store.close();
    // One second's grace for each: the LISTEN connection, then the pool.
    expect(performance.now() - t0).toBeLessThan(2000 + SLACK_MS);
    expect(proxy.stats().open).toBeGreaterThan(0);
    proxy.thaw();
    await pollUntil("every connection is gone at the proxy", () => proxy.stats().open, (n) => n === 0, 5000);
  });
});
