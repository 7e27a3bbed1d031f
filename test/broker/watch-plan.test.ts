/**
 * The watch's scheduling (src/broker/watch.ts), as pure functions of the
 * token it holds and the time: when to refresh so that the next token is
 * delivered before the current one drops below min_valid_for, what to ask
 * the engine for, and when a failing refresh is tried again.
 */
import { describe, expect, it } from "vitest";
import { MAX_LEAD_MS, MIN_LEAD_MS, isTransient, lifetimeOf, nextStep, planWatch } from "../../src/broker/watch.js";
import { BrokerError, Reason, linkNotFound, providerUnavailable, reauthRecorded } from "../../src/errors/index.js";

const T0 = 1_800_000_000_000;
const token = (lifetimeMs: number, issuedAt = T0) => ({ expiresAt: issuedAt + lifetimeMs, lastRefreshedAt: issuedAt, updatedAt: issuedAt });

describe("planWatch", () => {
  it("10 s tokens, min_valid_for 3 s: a quarter of the 7 s window (1.75 s) is kept for the refresh", () => {
    const p = planWatch(T0 + 10_000, 10_000, 3_000);
    expect(p.mustHaveBy).toBe(T0 + 7_000);
    expect(p.refreshAt).toBe(T0 + 7_000 - 1_750);
  });

  it("keeps at least 1 s and at most 5 min, never more than the window itself", () => {
    expect(planWatch(T0 + 4_000, 4_000, 2_000).refreshAt).toBe(T0 + 2_000 - MIN_LEAD_MS);
    expect(planWatch(T0 + 8 * 3_600_000, 8 * 3_600_000, 60_000).refreshAt).toBe(T0 + 8 * 3_600_000 - 60_000 - MAX_LEAD_MS);
    // A window of 500 ms: the whole window is lead, so the refresh is due at issue — never before it.
    expect(planWatch(T0 + 2_500, 2_500, 2_000).refreshAt).toBe(T0);
  });

  it("a token that does not expire is never refreshed", () => {
    expect(planWatch(null, 0, 60_000)).toEqual({ refreshAt: undefined, mustHaveBy: undefined });
  });
});

describe("lifetimeOf", () => {
  it("counts from the refresh, else from the write (an imported or linked token)", () => {
    expect(lifetimeOf(token(10_000))).toBe(10_000);
    expect(lifetimeOf({ expiresAt: T0 + 9_000, lastRefreshedAt: null, updatedAt: T0 })).toBe(9_000);
    expect(lifetimeOf({ expiresAt: null, lastRefreshedAt: null, updatedAt: T0 })).toBe(0);
  });
});

describe("nextStep", () => {
  const rec = token(10_000);
  it("waits until the refresh is due, then asks for more than the token has left (a refresh, unless a newer token exists)", () => {
    expect(nextStep(rec, 3_000, T0 + 1_000, undefined)).toEqual({ kind: "wait", untilMs: T0 + 5_250 });
    expect(nextStep(rec, 3_000, T0 + 5_250, undefined)).toEqual({ kind: "refresh", minValidMs: 4_751, final: false });
  });

  it("once the token no longer has min_valid_for, asks the unary call's question (its failure ends the stream)", () => {
    expect(nextStep(rec, 3_000, T0 + 7_000, undefined)).toEqual({ kind: "refresh", minValidMs: 3_000, final: true });
    expect(nextStep(rec, 3_000, T0 + 9_999, T0 + 20_000)).toEqual({ kind: "refresh", minValidMs: 3_000, final: true });
  });

  it("while failing, tries again at the retry time, but never later than the last moment", () => {
    expect(nextStep(rec, 3_000, T0 + 5_500, T0 + 6_000)).toEqual({ kind: "wait", untilMs: T0 + 6_000 });
    expect(nextStep(rec, 3_000, T0 + 5_500, T0 + 60_000)).toEqual({ kind: "wait", untilMs: T0 + 7_000 });
    expect(nextStep(rec, 3_000, T0 + 6_000, T0 + 6_000)).toEqual({ kind: "refresh", minValidMs: 4_001, final: false });
  });

  it("a token that does not expire: only waits (changes are still looked for)", () => {
    expect(nextStep({ expiresAt: null, lastRefreshedAt: null, updatedAt: T0 }, 3_000, T0, undefined)).toEqual({ kind: "wait", untilMs: undefined });
  });
});

describe("isTransient", () => {
  it("the provider or store failing keeps the current token flowing; unlink and a refused grant end the stream", () => {
    expect(isTransient(providerUnavailable("p", "HTTP 503", 1_000))).toBe(true);
    expect(isTransient(new BrokerError(Reason.STORE_UNAVAILABLE, "busy"))).toBe(true);
    expect(isTransient(linkNotFound({ providerId: "p" }))).toBe(false);
    expect(isTransient(reauthRecorded({ reason: "invalid_grant", failedAt: T0 }))).toBe(false);
  });
});
