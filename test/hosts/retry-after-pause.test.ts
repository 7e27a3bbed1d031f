/**
 * Issue 18, row 4: the lease holder got a definitive 503 (Retry-After: 2 —
 * the provider rotated nothing) and is paused (SIGSTOP) while it waits out
 * the Retry-After, past its lease (lease_ttl 2 s). The 503 cleared the row's
 * sending mark in the same write that kept the lease, so the lapsed lease is
 * an ordinary expired one, not an interrupted send:
 *
 * - holder on another host: the other host takes the lease over and
 *   refreshes — the link is not lost for nothing;
 * - holder on the same host (alive, so not judged dead): the pause does not
 *   block the key indefinitely — a caller with a 20 s deadline gets a token,
 *   because a takeover happens.
 *
 * The holder, resumed, sends nothing more (its lease is gone) and serves the
 * token the other refresh stored. 0 replays; the link ends with the
 * provider's current token.
 */
import { afterEach, describe, expect, it } from "vitest";
import { describeOutcome } from "../faults/support/broker-client.js";
import { expiredSeed } from "../faults/support/rig.js";
import { usePostgres } from "../support/postgres.js";
import { Hosts, canUnshareUts, skipReason, until } from "./support/hosts.js";
import { Calls, expectLinksLive } from "./support/verdict.js";

const server = await usePostgres();
const unshare = canUnshareUts();
const REFRESH = { lease_ttl: "2s", timeout: "5s", retry_budget: "10s" };

let hosts: Hosts | undefined;
afterEach(async () => {
  await hosts?.close();
  hosts = undefined;
});

async function pausedInBackoff(otherHostName: "host-a" | "host-b", callerDeadlineMs: number): Promise<void> {
  if (typeof server === "string") return;
  hosts = await Hosts.start(server, { expiresInSec: 120 });
  const { fake } = hosts;
  const a = await hosts.host("host-a", { refresh: REFRESH });
  const b = await hosts.host(otherHostName, { refresh: REFRESH });
  await a.client.importLink("u", expiredSeed(fake));
  expect((await b.client.getLink("u")).hasRefreshToken).toBe(true);
  const calls = new Calls(fake);

  fake.failNext(1, { status: 503, retryAfterSec: 2 });
  const held = fake.holdNextTokenRequest();
  const fromA = calls.obtain(a, "u", { minValidMs: 0, deadlineMs: 30_000 });
  await held.arrived;
  held.release();
  await held.answered;
  // A has read the 503, cleared the record of its send (in the write that kept its lease) and waits out the
  // Retry-After: pause it there.
  await until("A to clear the record of its send", 5_000, async () => (await hosts!.leases(["u"]))[0]?.sending === false);
  a.daemon.pause();
  try {
    await hosts.untilLeasesExpired(["u"], 10_000);
    const fromB = await calls.obtain(b, "u", { minValidMs: 0, deadlineMs: callerDeadlineMs });
    expect(fromB.ok, `the other daemon, A paused: ${describeOutcome(fromB)}\n${calls.summary()}`).toBe(true);
    calls.expectSound();
  } finally {
    a.daemon.resume();
  }
  await fromA;
  calls.expectSound();
  // The 503, then one refresh (B's): A sent nothing more after it resumed.
  expect(fake.tokenRequests, calls.summary()).toBe(2);
  expect(fake.refreshes, calls.summary()).toBe(1);
  const served = await calls.untilServed(a, "u", 10_000);
  expect(served.ok, `A after it resumed: ${describeOutcome(served)}\n${calls.summary()}`).toBe(true);
  await expectLinksLive(fake, [b, a], ["u"], calls);
}

describe.skipIf(typeof server === "string" || !unshare)(`a holder paused during a Retry-After backoff after a 503 (issue 18 row 4)${skipReason(server, unshare)}`, () => {
  it("holder on another host: the other host takes the expired lease over and refreshes; the link is not lost", async () => {
    await pausedInBackoff("host-b", 8_000);
  });

  it("holder on the same host: a caller with a 20 s deadline gets a token (a takeover happens), the key is not blocked", async () => {
    await pausedInBackoff("host-a", 20_000);
  });
});
