/**
 * Issue 18, rows 2 and 3: two hosts on one PostgreSQL; host A sends the
 * refreshes of 4 links, the provider rotates and answers them — and then A
 * is cut off from the database for longer than its leases (lease_ttl 2 s):
 *
 * - its path to the database freezes (its proxy forwards nothing either way,
 *   closes nothing; the provider stays reachable);
 * - A itself is paused (SIGSTOP) with the answers in its sockets;
 * - A's PostgreSQL backends are stopped (SIGSTOP; new connections it opens
 *   meanwhile get no answer either).
 *
 * Host B is asked for every link once A's leases have expired by the
 * database's clock. The rotated tokens exist only in A's memory: B must not
 * fail the links for good — it says UNAVAILABLE, REFRESH_INTERRUPTED, naming
 * A's process on host-a (refresh.interrupted_window, 10 min by default) — and
 * once A is back its answers heal the links — 0 replays, 0 links lost, every
 * link holding the provider's current token. A caller of A while its path is
 * frozen is answered (STORE_UNAVAILABLE) before its deadline, not left to
 * hang on a statement that never returns.
 */
import { afterEach, describe, expect, it } from "vitest";
import { describeOutcome } from "../faults/support/broker-client.js";
import { expiredSeed } from "../faults/support/rig.js";
import { usePostgres } from "../support/postgres.js";
import { Hosts, canUnshareUts, skipReason, type Host } from "./support/hosts.js";
import { Calls, expectInterruptedBy, expectLinksLive } from "./support/verdict.js";

const server = await usePostgres();
const unshare = canUnshareUts();
const USERS = ["u0", "u1", "u2", "u3"];
const REFRESH = { lease_ttl: "2s", timeout: "5s" };
/** A caller of A while A is cut off but running. */
const DURING_DEADLINE_MS = 8_000;

let hosts: Hosts | undefined;
afterEach(async () => {
  await hosts?.close();
  hosts = undefined;
});

interface CutOff {
  /** Right after the provider received A's requests, before it answers them. */
  beforeAnswers?: (a: Host) => Promise<void> | void;
  /** Right after the provider's answers were written to A's sockets. */
  afterAnswers?: (a: Host) => Promise<void> | void;
  heal: (a: Host) => void;
  /** A keeps running (its callers can be answered meanwhile). */
  running: boolean;
  /**
   * A stays cut off past refresh.interrupted_window too (this long, in ms): B
   * fails the links for the interruption, and A's answers heal them when it is
   * back (docs/design.md §3 invariant 12).
   */
  pastWindowMs?: number;
}

async function cutOffHolder(fault: CutOff): Promise<void> {
  if (typeof server === "string") return;
  hosts = await Hosts.start(server, { expiresInSec: 120 });
  const { fake } = hosts;
  const refresh = fault.pastWindowMs === undefined ? REFRESH : { ...REFRESH, interrupted_window: `${fault.pastWindowMs}ms` };
  const a = await hosts.host("host-a", { refresh });
  const b = await hosts.host("host-b", { refresh });
  for (const u of USERS) await a.client.importLink(u, expiredSeed(fake));
  expect((await b.client.getLink(USERS[0]!)).hasRefreshToken).toBe(true); // B's client connected before the timed calls
  const calls = new Calls(fake);

  const holds = USERS.map(() => fake.holdNextTokenRequest());
  const fromA = USERS.map((u) => calls.obtain(a, u, { minValidMs: 0, deadlineMs: 8_000 }));
  await Promise.all(holds.map((h) => h.arrived));
  const sentAt = Date.now();
  await fault.beforeAnswers?.(a);
  for (const h of holds) h.release();
  await Promise.all(holds.map((h) => h.answered));
  expect(fake.refreshes, "the provider rotated every link").toBe(USERS.length);
  await fault.afterAnswers?.(a);

  // A caller of A while it is cut off: answered before its deadline (a frozen statement ends on a client-side deadline).
  const duringA = fault.running ? calls.obtain(a, USERS[0]!, { minValidMs: 0, deadlineMs: DURING_DEADLINE_MS }) : undefined;

  // Longer than the lease: every lease has expired by the database's clock; then B is asked.
  await hosts.untilLeasesExpired(USERS, 10_000);
  // (Past the window as well, when the case says so: a margin for the store's clock and the send's record.)
  if (fault.pastWindowMs !== undefined) await new Promise((r) => setTimeout(r, Math.max(0, sentAt + fault.pastWindowMs! + 500 - Date.now())));
  const fromB = await Promise.all(USERS.map((u) => calls.obtain(b, u, { minValidMs: 0, deadlineMs: 5_000 })));
  const during = duringA === undefined ? undefined : await duringA;
  fault.heal(a);
  await Promise.all(fromA);

  // Nothing handed out dead, nothing failed for good, no INTERNAL, no replay — while it lasted
  // (past the window the links were failed, for a while: the heal below undoes it).
  calls.expectSound({ realLoss: fault.pastWindowMs !== undefined });
  if (during !== undefined) {
    const what = `a caller of A while cut off: ${describeOutcome(during)}\n${calls.summary()}`;
    expect(during.ok || during.detail !== undefined, `left to its own deadline timer — ${what}`).toBe(true);
    expect(during.ms, what).toBeLessThan(DURING_DEADLINE_MS - 1_000);
  }
  // B does not fail the links: each is an interrupted refresh of A's (A cannot have stored its answer yet), to be healed.
  // Past the window it does, naming the interruption.
  for (const o of fromB) {
    if (fault.pastWindowMs === undefined) expectInterruptedBy(fake, o, a.name, calls.summary());
    else {
      expect(o.ok ? "a token" : o.reason, `${describeOutcome(o)}\n${calls.summary()}`).toBe("REAUTH_REQUIRED");
      expect(o.ok ? "" : o.detail?.metadata.failure_reason, calls.summary()).toMatch(/was interrupted .* and no answer arrived/);
    }
  }

  // Healed: A's answers land (past the window: onto links B had failed); every link is served by both hosts with the provider's current token.
  for (const u of USERS) {
    for (const h of [b, a]) {
      const o = await calls.untilServed(h, u, 10_000);
      expect(o.ok, `${h.name} ${u} after A is back: ${describeOutcome(o)}\n${calls.summary()}`).toBe(true);
    }
  }
  calls.expectSound({ realLoss: fault.pastWindowMs !== undefined });
  // One refresh per link (A's), no second send of a spent token by anyone.
  expect(fake.tokenRequests, calls.summary()).toBe(USERS.length);
  await expectLinksLive(fake, [b, a], USERS, calls);
  expect(a.daemon.alive() && b.daemon.alive()).toBe(true);
}

describe.skipIf(typeof server === "string" || !unshare)(`the holder cut off from PostgreSQL after the provider answered (issue 18 rows 2, 3)${skipReason(server, unshare)}`, () => {
  it("A's path to the database freezes (nothing forwarded, nothing closed) right after its refreshes reached the provider, longer than lease_ttl", async () => {
    await cutOffHolder({
      beforeAnswers: (a) => a.proxy.freeze(),
      heal: (a) => a.proxy.thaw(),
      running: true,
    });
  });

  it("A is paused (SIGSTOP) with the provider's answers in its sockets, longer than lease_ttl", async () => {
    await cutOffHolder({
      beforeAnswers: (a) => a.daemon.pause(),
      heal: (a) => a.daemon.resume(),
      running: false,
    });
  });

  it("A is paused past lease_ttl and refresh.interrupted_window: B fails the links for the interruption, and A's answers heal them when it resumes", async () => {
    await cutOffHolder({
      beforeAnswers: (a) => a.daemon.pause(),
      heal: (a) => a.daemon.resume(),
      running: false,
      pastWindowMs: 3_000,
    });
  });

  it("A's PostgreSQL backends are stopped (SIGSTOP) right after its refreshes reached the provider, longer than lease_ttl", async () => {
    await cutOffHolder({
      beforeAnswers: async (a) => {
        expect((await a.stopBackends()).length).toBeGreaterThan(0);
      },
      heal: (a) => a.continueBackends(),
      running: true,
    });
  });
});
