/**
 * Issue 18, row 3 (last case): PostgreSQL goes down right after host A's
 * refreshes reached the provider, and stays down longer than the leases
 * (lease_ttl 2 s; down 5 s). The provider rotates and answers A: A holds
 * the new tokens in memory (the README promises they are kept) and serves
 * them meanwhile. When the database is back, host B is asked for every link
 * at once — B must not fail them for good, and A's held commits land
 * (they retry at most 1 s apart): 0 replays, 0 links lost, every link with
 * the provider's current token.
 *
 * Its own PostgreSQL cluster: this file stops and starts the server.
 */
import { afterEach, describe, expect, it } from "vitest";
import { describeOutcome } from "../faults/support/broker-client.js";
import { expiredSeed, sleep } from "../faults/support/rig.js";
import { usePostgres } from "../support/postgres.js";
import { Hosts, canUnshareUts, skipReason } from "./support/hosts.js";
import { Calls, expectInterruptedBy, expectLinksLive } from "./support/verdict.js";

const server = await usePostgres({ own: true });
const unshare = canUnshareUts();
const USERS = ["u0", "u1", "u2", "u3"];
const LEASE_TTL_MS = 2_000;
/** How long the database stays down: well past every lease. */
const DOWN_MS = 5_000;

let hosts: Hosts | undefined;
afterEach(async () => {
  await hosts?.close();
  hosts = undefined;
});

describe.skipIf(typeof server === "string" || !unshare)(`PostgreSQL down longer than the leases while A holds rotated tokens in memory (issue 18 row 3)${skipReason(server, unshare)}`, () => {
  it("B asked the moment the database is back does not fail the links; A's held commits land; 0 replays, 0 links lost", async () => {
    if (typeof server === "string" || server.control === undefined) return;
    const control = server.control;
    hosts = await Hosts.start(server, { expiresInSec: 120 });
    const { fake } = hosts;
    const refresh = { lease_ttl: `${LEASE_TTL_MS}ms`, timeout: "5s" };
    const a = await hosts.host("host-a", { refresh });
    const b = await hosts.host("host-b", { refresh });
    for (const u of USERS) await a.client.importLink(u, expiredSeed(fake));
    expect((await b.client.getLink(USERS[0]!)).hasRefreshToken).toBe(true);
    const calls = new Calls(fake);

    const holds = USERS.map(() => fake.holdNextTokenRequest());
    const fromA = USERS.map((u) => calls.obtain(a, u, { minValidMs: 0, deadlineMs: 8_000 }));
    await Promise.all(holds.map((h) => h.arrived));
    await control.stop();
    const downAt = Date.now();
    for (const h of holds) h.release();
    await Promise.all(holds.map((h) => h.answered));
    expect(fake.refreshes).toBe(USERS.length);
    // A's callers get the rotated tokens from memory, or a retryable answer; never a dead token.
    await Promise.all(fromA);
    calls.expectSound();

    // The outage lasts well past every lease (nothing to await: the database is gone).
    await sleep(Math.max(0, DOWN_MS - (Date.now() - downAt)));
    await control.start();

    // B is asked for every link the moment the database answers again.
    const fromB = await Promise.all(USERS.map((u) => calls.obtain(b, u, { minValidMs: 0, deadlineMs: 5_000 })));
    calls.expectSound();
    // Not failed: a link A's held commit has already healed is served, the others are A's interrupted refreshes.
    for (const o of fromB) expectInterruptedBy(fake, o, a.name, calls.summary(), { orToken: true });

    for (const u of USERS) {
      for (const h of [b, a]) {
        const o = await calls.untilServed(h, u, 10_000);
        expect(o.ok, `${h.name} ${u} after the database is back: ${describeOutcome(o)}\n${calls.summary()}`).toBe(true);
      }
    }
    calls.expectSound();
    expect(fake.tokenRequests, calls.summary()).toBe(USERS.length);
    await expectLinksLive(fake, [b, a], USERS, calls);
    for (const h of [a, b]) {
      expect(h.daemon.alive()).toBe(true);
      expect(h.daemon.serving.output()).not.toMatch(/"level":50[^\n]*"msg":"internal error/);
    }
  }, 60_000);
});
