/**
 * docs/design.md §3 invariant 10: kill -9 of the lease holder while the
 * provider holds its refresh (the provider then rotates the token; the answer
 * is lost with the process). A new daemon on the same store takes over at
 * once — not after the lease TTL — and says what happened: without a reuse
 * grace window the spent token is not sent again; for
 * refresh.interrupted_window after the send callers get UNAVAILABLE,
 * REFRESH_INTERRUPTED (RetryInfo, who sent it when: the answer may still be
 * stored, invariants 11 and 12), then the link needs re-linking with a reason
 * that names the interruption; inside the provider's declared grace window
 * (rotation_grace) it retries with the previous refresh token and the link
 * stays healthy.
 */
import { afterEach, expect, it } from "vitest";
import { describeOutcome, type Outcome } from "./support/broker-client.js";
import { ask, askUntilFailed, expectInterruptedThenFailed } from "./support/interruption.js";
import { FaultRig, expiredSeed, sleep, type DaemonOptions, type RigDaemon } from "./support/rig.js";

/** The bound for a definitive answer after a crash; the lease TTL stays at its 15 s default. */
const TAKEOVER_BOUND_MS = 2_000;
/** refresh.interrupted_window, short enough to see both phases. */
const WINDOW_MS = 3_000;

let rig: FaultRig | undefined;
afterEach(async () => {
  await rig?.close();
  rig = undefined;
});

/** Starts a daemon, has it send the link's refresh, kills it while the provider holds the request, then lets the provider rotate. */
async function killMidRefresh(r: FaultRig, opts: DaemonOptions): Promise<void> {
  const a = await r.daemon(opts);
  await a.client.importLink("u", expiredSeed(r.fake));
  const held = r.fake.holdNextTokenRequest();
  const call = a.client.obtain("u", { minValidMs: 0, deadlineMs: 30_000 });
  await held.arrived;
  await a.kill();
  held.release();
  await held.answered;
  expect(r.fake.refreshes).toBe(1); // the provider rotated; nobody will read its answer
  expect((await call).ok).toBe(false);
}

async function askAfterRestart(r: FaultRig, opts: DaemonOptions): Promise<{ b: RigDaemon; outcome: Outcome }> {
  const b = await r.daemon(opts);
  // Far past the bound, so a daemon that waits out the dead holder's lease shows how long it took.
  const outcome = await b.client.obtain("u", { minValidMs: 0, deadlineMs: 30_000 });
  return { b, outcome };
}

it("no grace window: within 2 s another daemon answers REFRESH_INTERRUPTED naming the killed sender, for refresh.interrupted_window (3 s); then REAUTH_REQUIRED naming the interruption; the spent token is never sent again", async () => {
  rig = await FaultRig.start({ expiresInSec: 120 });
  const { fake } = rig;
  const opts: DaemonOptions = { refresh: { timeout: "5s", interrupted_window: `${WINDOW_MS}ms` } };
  const a = await rig.daemon(opts);
  await a.client.importLink("u", expiredSeed(fake));
  // The other daemon is up before the window starts, so its start-up does not eat the window.
  const b = await rig.daemon(opts);
  const held = fake.holdNextTokenRequest();
  const call = a.client.obtain("u", { minValidMs: 0, deadlineMs: 30_000 });
  await held.arrived;
  const providerSawAt = Date.now();
  const pid = a.serving.child.pid;
  await a.kill();
  held.release();
  await held.answered;
  expect(fake.refreshes).toBe(1); // the provider rotated; nobody will read its answer
  expect((await call).ok).toBe(false);

  // The dead holder is taken over at once — not after the lease TTL (15 s) — and the answer says what happened.
  const first = await ask(b.client, "u", 30_000);
  const what = describeOutcome(first.outcome);
  expect(first.outcome.ms, what).toBeLessThan(TAKEOVER_BOUND_MS);
  expect(first.outcome.ok ? "a token" : first.outcome.reason, what).toBe("REFRESH_INTERRUPTED");
  const asked = await askUntilFailed(b.client, "u", { untilEpochMs: providerSawAt + WINDOW_MS + 10_000, first: [first] });
  expectInterruptedThenFailed(asked, { providerSawAt, windowMs: WINDOW_MS, by: new RegExp(`^process ${pid} on host `) });
  expect(fake.tokenRequests, what).toBe(1);
  expect(fake.replays, what).toBe(0);

  // The recorded failure is what the link says from now on, without asking the provider.
  const link = await b.client.getLink("u");
  expect(link.refreshFailure?.reason).toMatch(/interrupted/i);
  const again = await b.client.obtain("u", { minValidMs: 0 });
  expect(again.ok ? "a token" : again.reason).toBe("REAUTH_REQUIRED");
  expect(fake.tokenRequests).toBe(1);
  expect(fake.replays).toBe(0);
  expect(b.alive()).toBe(true);
  expect(fake.errors).toEqual([]);
});

it("rotation_grace 30s: within 2 s the new daemon retries with the previous refresh token inside the window; the link stays healthy", async () => {
  rig = await FaultRig.start({ expiresInSec: 120, reuseGraceSec: 30 });
  const { fake } = rig;
  const opts: DaemonOptions = { refresh: { timeout: "5s" }, provider: { rotation_grace: "30s" } };
  await killMidRefresh(rig, opts);
  fake.expiresInSec = 2; // so the next refresh can be forced below
  const { b, outcome } = await askAfterRestart(rig, opts);
  const what = describeOutcome(outcome);

  expect(outcome.ms, what).toBeLessThan(TAKEOVER_BOUND_MS);
  expect(outcome.ok, what).toBe(true);
  if (!outcome.ok) return;
  expect(fake.isValid(outcome.token.accessToken)).toBe(true);
  expect(fake.graceReuses, what).toBe(1);
  expect(fake.replays, what).toBe(0);
  expect(fake.tokenRequests, what).toBe(2);

  // The grace answer's refresh token was stored: the next refresh rotates on from it.
  fake.expiresInSec = 120;
  await sleep(2_200);
  const next = await b.client.obtain("u", { minValidMs: 0 });
  expect(next.ok, describeOutcome(next)).toBe(true);
  if (next.ok) {
    expect(next.token.accessToken).not.toBe(outcome.token.accessToken);
    expect(fake.isValid(next.token.accessToken)).toBe(true);
  }
  expect(fake.tokenRequests).toBe(3);
  expect(fake.replays).toBe(0);
  const link = await b.client.getLink("u");
  expect(link.refreshFailure).toBeUndefined();
  expect(link.hasRefreshToken).toBe(true);
  expect(b.alive()).toBe(true);
  expect(fake.errors).toEqual([]);
});
