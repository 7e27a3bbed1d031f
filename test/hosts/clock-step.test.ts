/**
 * Issue 18, row 5: a host whose wall clock steps 10 minutes ahead after it
 * started (an NTP step, a VM resumed) — after it measured anything about the
 * database's clock at open. Host A holds a live lease (its refresh is at the
 * provider); the stepped host S is asked for the same link. Leases expire by
 * the database's clock, judged in SQL: S must wait for A's refresh, not take
 * the lease over and fail the link. Both end with A's token; 1 request, 0
 * replays; the link keeps the provider's current token.
 *
 * The provider's tokens live 1 h, so S (10 min ahead) still sees them fresh.
 */
import { afterEach, describe, expect, it } from "vitest";
import { describeOutcome, type Outcome } from "../faults/support/broker-client.js";
import { expiredSeed, sleep } from "../faults/support/rig.js";
import { usePostgres } from "../support/postgres.js";
import { Hosts, canUnshareUts, skipReason } from "./support/hosts.js";
import { Calls, expectLinksLive } from "./support/verdict.js";

const server = await usePostgres();
const unshare = canUnshareUts();
const STEP_MS = 10 * 60_000;
/** How long S is watched while A's lease is live (a host judging by its own clock took it over in ~50 ms). */
const WATCH_MS = 2_000;

let hosts: Hosts | undefined;
afterEach(async () => {
  await hosts?.close();
  hosts = undefined;
});

describe.skipIf(typeof server === "string" || !unshare)(`a host whose clock steps +10 min after start (issue 18 row 5)${skipReason(server, unshare)}`, () => {
  it("does not take a live lease: it waits for the holder's refresh and serves its token", async () => {
    if (typeof server === "string") return;
    hosts = await Hosts.start(server, { expiresInSec: 3_600 });
    const { fake } = hosts;
    const refresh = { lease_ttl: "15s", timeout: "10s" };
    const a = await hosts.host("host-a", { refresh });
    const s = await hosts.host("host-s", { refresh, clock: true });
    await a.client.importLink("u", expiredSeed(fake));
    expect((await s.client.getLink("u")).hasRefreshToken).toBe(true);
    await s.stepClock(STEP_MS);
    const calls = new Calls(fake);

    const held = fake.holdNextTokenRequest();
    const first = calls.obtain(a, "u", { minValidMs: 0, deadlineMs: 30_000 });
    await held.arrived;
    const second = calls.obtain(s, "u", { minValidMs: 0, deadlineMs: 20_000 });
    const early = await Promise.race([second, sleep(WATCH_MS).then(() => undefined)]);
    const [lease] = await hosts.leases(["u"]);
    const what = `while A's lease is live: ${early === undefined ? "S still waiting" : describeOutcome(early)}; lease ${JSON.stringify(lease)}\n${calls.summary()}`;
    expect(early, `the stepped host answered while A's refresh was at the provider — ${what}`).toBeUndefined();
    expect(lease?.lease_owner, what).toMatch(/^tb1:host-a:/);
    expect(lease?.failed, what).toBe(false);
    expect(fake.tokenRequests, what).toBe(1);

    held.release();
    const [x, y] = (await Promise.all([first, second])) as [Outcome, Outcome];
    expect(x.ok, describeOutcome(x)).toBe(true);
    expect(y.ok, describeOutcome(y)).toBe(true);
    if (x.ok && y.ok) expect(y.token.accessToken).toBe(x.token.accessToken);
    calls.expectSound();
    expect(fake.tokenRequests, calls.summary()).toBe(1);
    await expectLinksLive(fake, [a, s], ["u"], calls);
  });
});
