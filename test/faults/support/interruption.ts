/**
 * The two phases of an interrupted refresh, as a caller sees them
 * (docs/design.md §3 invariant 11): a refresh was written to the provider,
 * which may have rotated the token, and nobody saw the answer. The refresh
 * token is never sent again (outside a grace window); for
 * `refresh.interrupted_window` after the send — by the store's clock —
 * callers get UNAVAILABLE, reason REFRESH_INTERRUPTED, with RetryInfo and
 * who sent it when (metadata `interrupted_at`, `interrupted_by`, and the
 * message); after the window the link is failed: REAUTH_REQUIRED whose
 * failure_reason names the interruption.
 *
 *   const asked = await askUntilFailed(b.client, "u", { untilEpochMs: sentAt + WINDOW_MS + 5_000 });
 *   expectInterruptedThenFailed(asked, { providerSawAt, windowMs: WINDOW_MS, by: pidOf(a) });
 */
import * as grpc from "@grpc/grpc-js";
import { expect } from "vitest";
import { describeOutcome, type BrokerClient, type Outcome } from "./broker-client.js";
import { sleep } from "./rig.js";

/** One ask and its answer, with the test's wall-clock times (epoch ms; the store's clock is the same system clock here). */
export interface Asked {
  outcome: Outcome;
  /** When the call was made. */
  startedAt: number;
  /** When its answer came back. */
  at: number;
}

export type Failure = Extract<Outcome, { ok: false }>;

/** Times compared across the daemon's and the test's reading of the one system clock (ms rounding, ISO strings). */
const CLOCK_SLACK_MS = 50;
/** How soon after the window ends the link must be failed: the ask's period, a loaded 2-core host. */
const FAIL_BOUND_MS = 3_000;

/** One ask, timed. */
export async function ask(client: BrokerClient, user: string, deadlineMs = 3_000): Promise<Asked> {
  const startedAt = Date.now();
  const outcome = await client.obtain(user, { minValidMs: 0, deadlineMs });
  return { outcome, startedAt, at: Date.now() };
}

/**
 * Asks for `user` every `everyMs` (after each answer) until the link is
 * failed (REAUTH_REQUIRED) or `untilEpochMs` has passed; every answer, in
 * order. `first` are answers already collected (they come first).
 */
export async function askUntilFailed(client: BrokerClient, user: string, opts: { untilEpochMs: number; everyMs?: number; first?: Asked[] }): Promise<Asked[]> {
  const asked = [...(opts.first ?? [])];
  const failed = (): boolean => {
    const last = asked.at(-1)?.outcome;
    return last !== undefined && !last.ok && last.reason === "REAUTH_REQUIRED";
  };
  while (!failed() && Date.now() < opts.untilEpochMs) {
    if (asked.length > 0) await sleep(opts.everyMs ?? 200);
    asked.push(await ask(client, user));
  }
  return asked;
}

export function describeAsked(asked: Asked[], t0: number): string {
  return asked.map((a) => `+${a.startedAt - t0}..+${a.at - t0} ms: ${describeOutcome(a.outcome)}`).join("\n");
}

/**
 * Asserts the two phases over `asked` (see the file comment) and returns the
 * final REAUTH_REQUIRED. `providerSawAt` is when the provider received the
 * request (the send was recorded just before it); `by` must match the
 * sender's description in `interrupted_by` (e.g. its pid).
 */
export function expectInterruptedThenFailed(asked: Asked[], opts: { providerSawAt: number; windowMs: number; by?: RegExp; context?: string }): Failure {
  const summary = `answers (ms after the provider received the request):\n${describeAsked(asked, opts.providerSawAt)}${opts.context === undefined ? "" : `\n${opts.context}`}`;
  const interrupted = asked.filter((a) => !a.outcome.ok && a.outcome.reason === "REFRESH_INTERRUPTED");
  const failedAt = asked.findIndex((a) => !a.outcome.ok && a.outcome.reason === "REAUTH_REQUIRED");

  // Nothing but the two answers; the interruption first, then the failure, never back.
  for (const a of asked) {
    const o = a.outcome;
    expect(!o.ok && (o.reason === "REFRESH_INTERRUPTED" || o.reason === "REAUTH_REQUIRED"), `an answer that is neither phase: ${describeOutcome(o)}\n${summary}`).toBe(true);
  }
  expect(interrupted.length, `no REFRESH_INTERRUPTED inside the window\n${summary}`).toBeGreaterThan(0);
  expect(failedAt, `never failed after the window\n${summary}`).toBeGreaterThan(0);
  expect(asked.slice(failedAt).every((a) => !a.outcome.ok && a.outcome.reason === "REAUTH_REQUIRED"), `REFRESH_INTERRUPTED after the link was failed\n${summary}`).toBe(true);

  // Phase 1: UNAVAILABLE with RetryInfo, naming when the refresh was sent and by whom.
  const sentAts = new Set<string>();
  for (const a of interrupted) {
    const o = a.outcome as Failure;
    const at = o.detail?.metadata.interrupted_at ?? "";
    const by = o.detail?.metadata.interrupted_by ?? "";
    sentAts.add(at);
    expect(o.code, summary).toBe(grpc.status.UNAVAILABLE);
    expect(o.detail?.retry?.retryDelay, `no RetryInfo\n${summary}`).toBeDefined();
    expect(Math.abs(Date.parse(at) - opts.providerSawAt), `interrupted_at ${at} is not when the refresh was sent\n${summary}`).toBeLessThan(1_000);
    expect(by, summary).toMatch(opts.by ?? /^process \d+ on host \S+/);
    expect(o.message, summary).toContain(at);
    expect(o.message, summary).toContain(by);
    expect(o.message, summary).toMatch(/interrupted/i);
  }

  // The window is measured from the send by the store's clock: inside it nobody fails the link, after it the next ask does.
  const sentAt = Math.min(...[...sentAts].map((s) => Date.parse(s)));
  const windowEnd = sentAt + opts.windowMs;
  for (const a of asked) {
    const o = a.outcome as Failure;
    if (a.at < windowEnd - CLOCK_SLACK_MS) expect(o.reason, `failed before the window ended (${windowEnd - a.at} ms early)\n${summary}`).toBe("REFRESH_INTERRUPTED");
    if (a.startedAt > windowEnd + CLOCK_SLACK_MS) expect(o.reason, `still interrupted after the window ended\n${summary}`).toBe("REAUTH_REQUIRED");
  }
  const failed = asked[failedAt]!;
  expect(failed.at - windowEnd, `failed too long after the window\n${summary}`).toBeLessThan(FAIL_BOUND_MS);

  // Phase 2: REAUTH_REQUIRED whose reason names the interruption and the send.
  const f = failed.outcome as Failure;
  expect(f.code, summary).toBe(grpc.status.FAILED_PRECONDITION);
  const reason = f.detail?.metadata.failure_reason ?? "";
  expect(reason, summary).toMatch(/interrupted/i);
  expect(reason, summary).toContain(new Date(sentAt).toISOString());
  return f;
}
