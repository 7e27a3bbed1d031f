/**
 * The record cache is only as fresh as its invalidation channel
 * (docs/design.md §4.5, issue 18 item 5): a PostgreSQL store serves cached
 * records only while a heartbeat sent through its pool came back on its
 * LISTEN connection within `listenFreshnessMs`. Here store A reaches the
 * real server through a proxy that freezes only A's LISTEN connection
 * (silently: no FIN, no RST, A's pool unaffected); store B commits a change
 * A never hears of. Within the bound A stops serving its cached record and
 * reads the new one, reports its listener down, logs it once; after the
 * thaw it reconnects and caches again.
 *
 * Whether a read was served from the cache is seen by changing the row
 * behind every store's back (a raw UPDATE without NOTIFY): a cached read
 * still shows the old version, a read that went to the row shows the new.
 */
import pg from "pg";
import { describe, expect, it } from "vitest";
import { openPostgresStore, type PgStore } from "../../src/store/postgres/index.js";
import { PgProxy } from "../support/pg-proxy.js";
import { pollUntil } from "../support/poll.js";
import { usePostgres } from "../support/postgres.js";
import { atScopeEnd } from "../support/scope-cleanup.js";
import { FakeSealer } from "./fake-sealer.js";
import { KEY, T0, tokens } from "./helpers.js";

const server = await usePostgres();

const FRESHNESS_MS = 1500;
/** What a loaded 2-core host may add to timers and round trips. */
const SLACK_MS = 1000;

type Line = { level: "warn" | "info"; fields: object; message: string };

async function open(url: string, opts: Partial<Parameters<typeof openPostgresStore>[0]> = {}): Promise<PgStore> {
  // statement_timeout 1 s: a LISTEN frozen mid-reconnect fails after 2 s (query_timeout), not 6.
  const store = await openPostgresStore({ url, sealer: new FakeSealer(), poolSize: 2, clockOffsetMs: 0, statementTimeoutMs: 1000, ...opts });
  atScopeEnd(() => store.close());
  return store;
}


describe.skipIf(typeof server === "string")(`a PostgreSQL store whose LISTEN connection goes silent${typeof server === "string" ? ` (${server})` : ""}`, () => {
  it("stops serving its cache within listen_freshness, reads the row, reports the listener down once; caches again after it reconnects", async () => {
    if (typeof server === "string") return;
    const url = await server.freshDatabase();
    const proxy = await PgProxy.start(url);
    atScopeEnd(() => proxy.close());
    const lines: Line[] = [];
    const log = {
      warn: (fields: object, message: string) => lines.push({ level: "warn", fields, message }),
      info: (fields: object, message: string) => lines.push({ level: "info", fields, message }),
    };
    const a = await open(proxy.rewrite(url), { listenFreshnessMs: FRESHNESS_MS, log });
    const b = await open(url);
    const health: Array<boolean | undefined> = [];
    a.onHealth((h) => health.push(h.listener));
    const raw = new pg.Client({ connectionString: url });
    await raw.connect();
    atScopeEnd(() => raw.end());
    /** Changes the row without a NOTIFY: only a store that reads the row sees it. */
    const behindTheBack = async (): Promise<number> => {
      const { rows } = await raw.query<{ version: number }>("UPDATE links SET version = version + 100 RETURNING version");
      return Number(rows[0]?.version);
    };

    await b.links.put(KEY, tokens({ accessToken: "at-1" }), T0);
    // B's NOTIFY of that put reaches each store after its put: heard before anything is cached.
    await Promise.all([a.links.sync(), b.links.sync()]);
    expect((await a.links.get(KEY))?.accessToken).toBe("at-1");
    expect((await b.links.get(KEY))?.accessToken).toBe("at-1");
    const cachedVersion = (await a.links.get(KEY))?.version;
    // Two bounds of heartbeats (A's and B's own): neither clears the other's cache, and A's stays live.
    await new Promise((r) => setTimeout(r, 2 * FRESHNESS_MS));
    const rowVersion = await behindTheBack();
    expect(rowVersion).not.toBe(cachedVersion);
expect((await a.links.get(KEY))?.version).toBe(cachedVersion);
    expect((await b.links.get(KEY))?.version).toBe(cachedVersion);
    expect(a.health()).toEqual({ serving: true, database: true, listener: true });

    // A's LISTEN connection goes silent; B commits a change that A cannot hear of.
    expect(proxy.freezeListen({ reconnects: true })).toBe(1);
    const committed = performance.now();
    await b.links.put(KEY, tokens({ accessToken: "at-2" }), T0 + 1);
    const served = await pollUntil("A reads the new token", async () => (await a.links.get(KEY))?.accessToken, (t) => t === "at-2", FRESHNESS_MS + SLACK_MS);
    const down = await pollUntil("A reports its listener down", () => a.health(), (h) => h.listener === false, FRESHNESS_MS + SLACK_MS);
    const downMs = performance.now() - committed;
    console.info(`LISTEN frozen: A served the replaced token for ${Math.round(served.ms)} ms after B's commit (bound ${FRESHNESS_MS} ms); listener reported down after ${Math.round(downMs)} ms`);
    // Still serving: only the cache is off.
    expect(down.value).toEqual({ serving: true, database: true, listener: false });
    // While stale every read goes to the row.
    const staleVersion = await behindTheBack();
    expect((await a.links.get(KEY))?.version).toBe(staleVersion);

    // Stale for a while (its reconnects freeze too): one warning, not one per attempt.
    await new Promise((r) => setTimeout(r, FRESHNESS_MS));
    expect(lines.filter((l) => l.level === "warn")).toHaveLength(1);
    expect(lines[0]).toMatchObject({ level: "warn", fields: { freshnessMs: FRESHNESS_MS }, message: expect.stringContaining("the record cache is off") });

    proxy.thaw();
    await pollUntil("A's listener is back", () => a.health(), (h) => h.serving && h.listener === true, 5000);
    expect(lines.map((l) => l.level)).toEqual(["warn", "info"]);
    expect(health).toEqual([false, true]);
    // The cache serves again: a read caches, a change behind the back is not seen…
    const cachedAgain = (await a.links.get(KEY))?.version;
    expect(await behindTheBack()).not.toBe(cachedAgain);
    expect((await a.links.get(KEY))?.version).toBe(cachedAgain);
    // …and a commit elsewhere is heard at once.
    await b.links.put(KEY, tokens({ accessToken: "at-3" }), T0 + 2);
    await pollUntil("A hears B's commit", async () => (await a.links.get(KEY))?.accessToken, (t) => t === "at-3", SLACK_MS);
    // Secrets never reach the log.
    expect(JSON.stringify(lines)).not.toMatch(/at-\d|rt-|postgres:\/\//);
  });
});
