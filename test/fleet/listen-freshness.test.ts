/**
 * Issue 18 row "host A's LISTEN connection goes silently dead while its
 * queries still work; host B refreshes", with daemon processes: A reaches
 * PostgreSQL through a proxy that freezes only its LISTEN connection. Within
 * `store.postgres.listen_freshness` A stops answering from its cache and
 * hands out B's new token, logs the stale channel once, and logs it back
 * once the proxy thaws. 0 replays.
 */
import { writeFileSync } from "node:fs";
import { join } from "node:path";
import { afterEach, describe, expect, it } from "vitest";
import { describeOutcome } from "../faults/support/broker-client.js";
import { PgProxy } from "../support/pg-proxy.js";
import { pollUntil } from "../support/poll.js";
import { usePostgres } from "../support/postgres.js";
import { atScopeEnd } from "../support/scope-cleanup.js";
import { Fleet } from "./support/fleet.js";

const server = await usePostgres();

const FRESHNESS_MS = 1500;
/** What two loaded cores may add: a call round trip, timers. */
const SLACK_MS = 1500;
const STALE = "PostgreSQL change notifications unconfirmed";
const BACK = "PostgreSQL change notifications confirmed again";

let fleet: Fleet | undefined;
afterEach(async () => {
  await fleet?.close();
  fleet = undefined;
});


const count = (text: string, needle: string): number => text.split(needle).length - 1;

describe.skipIf(typeof server === "string")(`a host whose LISTEN connection goes silent${typeof server === "string" ? ` (${server})` : ""}`, () => {
  it("stops serving its cached token within listen_freshness and hands out the other host's new one; logs it once each way; 0 replays", async () => {
    if (typeof server === "string") return;
    fleet = await Fleet.start(server, { expiresInSec: 600 });
    const { fake } = fleet;
    const proxy = await PgProxy.start(fleet.url);
    atScopeEnd(() => proxy.close());
    const proxyUrlFile = join(fleet.rig.dir, "pg-url-proxy");
    writeFileSync(proxyUrlFile, `${proxy.rewrite(fleet.url)}\n`, { mode: 0o600 });
    const a = await fleet.daemon({ postgres: { url_file: proxyUrlFile, listen_freshness: `${FRESHNESS_MS}ms`, statement_timeout: "1s" } });
    const b = await fleet.daemon();
    const seed = fake.issue({ accessTtlSec: 60 });
    await a.client.importLink("u", { ...seed, expiresAt: Date.now() + 60_000 });
    const ask = async (): Promise<string | undefined> => {
      const o = await a.client.obtain("u", { minValidMs: 0 });
      return o.ok ? o.token.accessToken : describeOutcome(o);
    };
    expect(await ask()).toBe(seed.accessToken);
    expect(await ask()).toBe(seed.accessToken); // from A's cache

    expect(proxy.freezeListen({ reconnects: true })).toBe(1);
    const refreshed = await b.client.obtain("u", { minValidMs: 120_000 });
    expect(refreshed.ok, describeOutcome(refreshed)).toBe(true);
    if (!refreshed.ok) return;
    expect(refreshed.token.accessToken).not.toBe(seed.accessToken);
    const served = await pollUntil("A hands out B's token", ask, (t) => t === refreshed.token.accessToken, FRESHNESS_MS + SLACK_MS);
    console.info(`LISTEN frozen: host A handed out the replaced token for ${Math.round(served.ms)} ms after B's refresh (listen_freshness ${FRESHNESS_MS} ms)`);
    await pollUntil("A logs the stale channel", () => a.serving.output(), (out) => out.includes(STALE), FRESHNESS_MS + SLACK_MS);
    // Its reconnects freeze too (the proxy holds every LISTEN): one warning for the whole outage.
    await new Promise((r) => setTimeout(r, FRESHNESS_MS));
    expect(count(a.serving.output(), STALE)).toBe(1);
    expect(count(a.serving.output(), BACK)).toBe(0);

    proxy.thaw();
    await pollUntil("A logs the channel back", () => a.serving.output(), (out) => out.includes(BACK), 5000);
    expect(count(a.serving.output(), STALE)).toBe(1);
    expect(await ask()).toBe(refreshed.token.accessToken);
    expect(fake.refreshes).toBe(1);
    expect(fake.replays).toBe(0);
    expect(fake.errors).toEqual([]);
    for (const secret of [seed.accessToken, seed.refreshToken, refreshed.token.accessToken]) expect(a.serving.output()).not.toContain(secret);
  });
});
