/**
 * docs/design.md §3 invariants 1 and 14: when a process may claim a row's
 * lease. A live holder that is renewing is waited for; an expired holder that
 * was not sending is fenced out by a claim; a dead one is taken over at once;
 * a live holder that stalled while sending is never overtaken on this host,
 * except inside the provider's reuse grace window.
 */
import { describe, expect, it } from "vitest";
import type { Liveness } from "../../src/broker/lease-owner.js";
import { decideLease, withinGrace, type LeaseContext } from "../../src/broker/lease-policy.js";

const NOW = 1_000_000;
const ctx = (liveness: Liveness, over: Partial<LeaseContext> = {}): LeaseContext => ({ now: NOW, liveness: () => liveness, rotationGraceMs: 0, pollMs: 25, ...over });
const lease = (over: { until?: number; sendingAt?: number } = {}) => ({
  owner: "holder",
  generation: 7,
  until: over.until ?? NOW + 5_000,
  ...(over.sendingAt !== undefined ? { sending: { at: over.sendingAt } } : {}),
});
const expect7 = { owner: "holder", generation: 7 };

describe("decideLease", () => {
  it("claims a free lease expecting it free", () => {
    expect(decideLease(null, ctx("unknown"))).toEqual({ action: "claim", expect: null, why: "free" });
  });

  it("waits for a live holder whose lease runs, at most until it would expire", () => {
    expect(decideLease(lease(), ctx("alive"))).toEqual({ action: "wait", ms: 25, why: "held" });
    expect(decideLease(lease({ until: NOW + 10 }), ctx("alive"))).toEqual({ action: "wait", ms: 10, why: "held" });
    expect(decideLease(lease({ sendingAt: NOW - 100 }), ctx("unknown"))).toMatchObject({ action: "wait", why: "held" });
  });

  it("takes over a dead holder at once, whatever its lease says", () => {
    expect(decideLease(lease({ until: NOW + 60_000, sendingAt: NOW - 10 }), ctx("dead"))).toEqual({ action: "claim", expect: expect7, why: "holder-dead" });
  });

  it("reclaims its own leftover lease", () => {
    expect(decideLease(lease(), ctx("self"))).toEqual({ action: "claim", expect: expect7, why: "own" });
  });

  it("claims an expired lease whose holder was not sending, conditionally on that holder", () => {
    for (const l of ["alive", "unknown"] as const) {
      expect(decideLease(lease({ until: NOW }), ctx(l))).toEqual({ action: "claim", expect: expect7, why: "expired" });
    }
  });

  it("never overtakes a live holder on this host that stalled while sending, outside the grace window", () => {
    expect(decideLease(lease({ until: NOW - 1, sendingAt: NOW - 20_000 }), ctx("alive"))).toEqual({ action: "wait", ms: 25, why: "holder-sending" });
    expect(decideLease(lease({ until: NOW - 1, sendingAt: NOW - 20_000 }), ctx("alive", { rotationGraceMs: 10_000 }))).toMatchObject({ action: "wait" });
  });

  it("overtakes it inside the provider's reuse grace window", () => {
    expect(decideLease(lease({ until: NOW - 1, sendingAt: NOW - 5_000 }), ctx("alive", { rotationGraceMs: 10_000 }))).toEqual({ action: "claim", expect: expect7, why: "grace" });
  });

  it("claims an expired sending lease of another host (only the expiry can tell)", () => {
    expect(decideLease(lease({ until: NOW - 1, sendingAt: NOW - 20_000 }), ctx("unknown"))).toEqual({ action: "claim", expect: expect7, why: "expired-sending" });
  });
});

describe("withinGrace", () => {
  it("is false without a grace window and after it", () => {
    expect(withinGrace(NOW - 1, 0, NOW)).toBe(false);
    expect(withinGrace(NOW - 10_000, 10_000, NOW)).toBe(false);
    expect(withinGrace(NOW - 9_999, 10_000, NOW)).toBe(true);
  });
});
