/**
 * Issue 18, row 1: one daemon, a provider that rotates at once but answers
 * after the daemon's refresh.timeout (1 s; the answer comes at 1.5 s, every
 * time). The request was written, so its outcome is unknown: the daemon must
 * not send the same refresh token again (outside a declared grace window) —
 * it waits for the answer (refresh.answer_timeout, default 5 m) and uses it
 * whenever it comes. With a reuse-revoking provider: 1 request, 0 replays,
 * the link kept. With a grace window (rotation_grace 30s, the provider
 * accepting the spent token once within 30 s): a resend inside the window
 * is allowed, still 0 replays and the link kept.
 *
 * And the real loss: a provider that rotates and never answers. After
 * refresh.answer_timeout the refresh is interrupted: callers get
 * UNAVAILABLE / REFRESH_INTERRUPTED for refresh.interrupted_window, then
 * REAUTH_REQUIRED naming the interruption — and the spent token is never
 * sent again.
 *
 * SQLite store (one daemon needs no fleet); the common verdict of
 * support/verdict.ts, and the two phases of an interrupted refresh of
 * ../faults/support/interruption.ts.
 */
import { afterEach, expect, it } from "vitest";
import { describeOutcome } from "../faults/support/broker-client.js";
import { ask, askUntilFailed, expectInterruptedThenFailed } from "../faults/support/interruption.js";
import { FaultRig, expiredSeed, type RigDaemon } from "../faults/support/rig.js";
import { until } from "./support/hosts.js";
import { Calls, expectLinksLive, expectProviderClean, type Caller } from "./support/verdict.js";

/** The provider answers this long after it rotated; the daemon's refresh.timeout is 1 s. */
const LATE_MS = 1_500;

let rig: FaultRig | undefined;
afterEach(async () => {
  await rig?.close();
  rig = undefined;
});

const named = (d: RigDaemon, name = "daemon"): Caller => ({ name, client: d.client });

/**
 * The first caller (10 s deadline) and, once the provider has rotated, a
 * second caller with a 3 s deadline: the daemon answers both within their
 * deadlines, hands out only tokens the provider honours, and the link ends
 * live with the provider's current token.
 */
async function lateAnswer(rig: FaultRig, opts: { provider?: Record<string, unknown> }): Promise<Calls> {
  const { fake } = rig;
  const d = named(await rig.daemon({ refresh: { timeout: "1s" }, ...opts }));
  await d.client.importLink("u", expiredSeed(fake));
  const calls = new Calls(fake);
  const first = calls.obtain(d, "u", { minValidMs: 0, deadlineMs: 10_000 });
  await until("the provider to rotate", 5_000, () => fake.refreshes >= 1);
  // While the answer is on its way: a second caller is answered within its deadline, not left hanging.
  await calls.obtain(d, "u", { minValidMs: 0, deadlineMs: 3_000 });
  await first;
  calls.expectSound();
  expectProviderClean(fake, calls.summary());
  // The link is kept: it answers with a token (the late answer's, committed).
  const after = await calls.untilServed(d, "u", 10_000);
  expect(after.ok, `after the late answer: ${describeOutcome(after)}\n${calls.summary()}`).toBe(true);
  calls.expectSound();
  expectProviderClean(fake, calls.summary());
  // The final check refreshes once more; it need not wait for a slow answer to prove the stored token is current.
  fake.lateAnswerMs = 0;
  await expectLinksLive(fake, [d], ["u"], calls);
  return calls;
}

it("reuse-revoking provider, answer at 1.5 s after a 1 s refresh.timeout: one request, 0 replays, the link kept", async () => {
  rig = await FaultRig.start({ expiresInSec: 120, lateAnswerMs: LATE_MS });
  const { fake } = rig;
  const calls = await lateAnswer(rig, {});
  // Not a single resend: the outcome of the first request was unknown, never known not to have rotated.
  expect(fake.tokenRequests, calls.summary()).toBe(2); // the late one, and the final check's
  expect(fake.graceReuses).toBe(0);
});

it("provider with a 30 s grace window (rotation_grace 30s), answer at 1.5 s: a resend inside the window is allowed; 0 replays, the link kept", async () => {
  rig = await FaultRig.start({ expiresInSec: 120, lateAnswerMs: LATE_MS, reuseGraceSec: 30 });
  const { fake } = rig;
  const calls = await lateAnswer(rig, { provider: { rotation_grace: "30s" } });
  // A resend inside the window is a grace reuse at most once; a second one would be a replay (asserted 0).
  expect(fake.graceReuses, calls.summary()).toBeLessThanOrEqual(1);
});

it("provider that rotates and never answers: REFRESH_INTERRUPTED inside refresh.interrupted_window, then REAUTH_REQUIRED naming the interruption; the spent token never sent again", async () => {
  rig = await FaultRig.start({ expiresInSec: 120 });
  const { fake } = rig;
  const ANSWER_TIMEOUT_MS = 2_000;
  const WINDOW_MS = 6_000;
  const daemon = await rig.daemon({ refresh: { timeout: "1s", answer_timeout: `${ANSWER_TIMEOUT_MS}ms`, interrupted_window: `${WINDOW_MS}ms` } });
  const d = named(daemon);
  await d.client.importLink("u", expiredSeed(fake));
  fake.failNext(1, { neverAnswer: true });
  const firstCall = ask(d.client, "u", 10_000);
  await until("the provider to rotate", 5_000, () => fake.refreshes === 1 && fake.unanswered === 1);
  const providerSawAt = Date.now();
  const first = await firstCall;
  // The written request is waited for up to answer_timeout (past refresh.timeout), never resent; then its caller hears of the interruption.
  expect(first.at - providerSawAt, describeOutcome(first.outcome)).toBeGreaterThanOrEqual(ANSWER_TIMEOUT_MS - 100);

  // Ask every 250 ms until the link is failed (bounded by the window and a margin).
  const asked = await askUntilFailed(d.client, "u", { untilEpochMs: providerSawAt + WINDOW_MS + 10_000, everyMs: 250, first: [first] });
  const summary = `${fake.tokenRequests} token requests, ${fake.replays} replays`;
  expectInterruptedThenFailed(asked, { providerSawAt, windowMs: WINDOW_MS, by: new RegExp(`^process ${daemon.serving.child.pid} on host `), context: summary });
  expect(fake.tokenRequests, `the spent refresh token was sent again\n${summary}`).toBe(1);
  expectProviderClean(fake, summary);
  const link = await d.client.getLink("u");
  expect(link.refreshFailure?.reason, summary).toMatch(/interrupted/i);
  expect(fake.tokenRequests, summary).toBe(1);
});
