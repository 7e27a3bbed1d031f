/**
 * Issue 18, row 6: host A's LISTEN connection goes silently dead (its proxy
 * stops forwarding that one connection, closes nothing — and every LISTEN a
 * reconnect sends, so the channel stays dead for the whole test) while its
 * queries still work; host B refreshes the link, which kills the access
 * token A has cached (the provider supersedes older access tokens on
 * refresh). A may serve its cached token only while its invalidation
 * channel is confirmed alive (store.postgres.listen_freshness, 3 s): from
 * 3 s after B's refresh on, every answer of A is a token the provider
 * honours — B's. A dead channel turns A's cache off, not A: it answers every
 * call with a token throughout (docs/design.md §3 invariant 14).
 */
import { afterEach, describe, expect, it } from "vitest";
import { describeOutcome, type Outcome } from "../faults/support/broker-client.js";
import { sleep } from "../faults/support/rig.js";
import { usePostgres } from "../support/postgres.js";
import { Hosts, canUnshareUts, skipReason } from "./support/hosts.js";
import { Calls, expectLinksLive } from "./support/verdict.js";

const server = await usePostgres();
const unshare = canUnshareUts();
/** The freshness bound of a cache (store.postgres.listen_freshness). */
const FRESHNESS_MS = 3_000;
/** Heartbeat granularity, polling, a loaded host. */
const SLACK_MS = 500;
/** How long A is watched after the bound. */
const WATCH_AFTER_MS = 2_000;

let hosts: Hosts | undefined;
afterEach(async () => {
  await hosts?.close();
  hosts = undefined;
});

describe.skipIf(typeof server === "string" || !unshare)(`a half-open LISTEN connection (issue 18 row 6)${skipReason(server, unshare)}`, () => {
  it("A stops handing out its cached token within the freshness bound after B's refresh replaced it, and answers every call with a token meanwhile", async () => {
    if (typeof server === "string") return;
    hosts = await Hosts.start(server, { expiresInSec: 600, supersedeAccess: true });
    const { fake } = hosts;
    const opts = { postgres: { listen: true, listen_freshness: `${FRESHNESS_MS}ms` } };
    const a = await hosts.host("host-a", opts);
    const b = await hosts.host("host-b", opts);
    // A 60-second token: good for A's callers (min 0), not for B's caller who asks for 2 minutes.
    const seed = fake.issue({ accessTtlSec: 60 });
    await a.client.importLink("u", { ...seed, expiresAt: Date.now() + 60_000 });
    const calls = new Calls(fake);
    for (let i = 0; i < 2; i++) {
      const o = await calls.obtain(a, "u", { minValidMs: 0 });
      expect(o.ok && o.token.accessToken, describeOutcome(o)).toBe(seed.accessToken); // the second from A's cache
    }

    expect(a.proxy.freezeListen({ reconnects: true }), "A's LISTEN connection").toBe(1);
    const frozenFrom = calls.all.length;
    const refreshed = await calls.obtain(b, "u", { minValidMs: 120_000 });
    const refreshedAt = Date.now();
    expect(refreshed.ok, describeOutcome(refreshed)).toBe(true);
    if (!refreshed.ok) return;
    expect(fake.isValid(seed.accessToken), "B's refresh killed the seed's access token").toBe(false);

    // Ask A every 100 ms until well past the bound.
    const staleAllowedUntil = refreshedAt + FRESHNESS_MS + SLACK_MS;
    let last: Outcome = refreshed;
    while (Date.now() < staleAllowedUntil + WATCH_AFTER_MS) {
      last = await calls.obtain(a, "u", { minValidMs: 0, deadlineMs: 5_000 });
      await sleep(100);
    }
    calls.expectSound({ staleAllowedUntil });
    // Still serving: every answer of A's while its channel is dead is a token (read from the row once the cache is off).
    const fromA = calls.all.slice(frozenFrom).filter((c) => c.host === a.name);
    expect(fromA.length, calls.summary()).toBeGreaterThan(0);
    for (const c of fromA) expect(c.outcome.ok, `A stopped serving: ${describeOutcome(c.outcome)}\n${calls.summary()}`).toBe(true);
    expect(a.proxy.stats().frozen, "A's channel stayed dead for the whole watch").toBeGreaterThan(0);
    expect(last.ok && last.token.accessToken, `A's last answer\n${calls.summary()}`).toBe(refreshed.token.accessToken);
    expect(fake.refreshes, calls.summary()).toBe(1);
    await expectLinksLive(fake, [b, a], ["u"], calls);
  });
});
