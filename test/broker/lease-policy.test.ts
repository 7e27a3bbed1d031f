/**
 * docs/design.md §3 invariants 1, 10, 11 and 13: when a process may claim a
 * row's lease, and what it does with a send whose answer no one saw. A live
 * holder that is renewing is waited for; an expired holder that was not
 * sending is fenced out by a claim conditional on the expiry; a dead one is
 * taken over at once; a live holder that stalled while sending is never
 * overtaken on this host, except inside the provider's reuse grace window.
 * Every age is judged by the store's clock (`now` in the lease state), never
 * by the host's.
 */
import fc from "fast-check";
import { describe, expect, it } from "vitest";
import type { Liveness } from "../../src/broker/lease-owner.js";
import { decideInterrupted, decideLease, withinGrace, type InterruptedContext, type LeaseContext } from "../../src/broker/lease-policy.js";
import type { LeaseState } from "../../src/store/link-store.js";

const NOW = 1_000_000;
const ctx = (liveness: Liveness, over: Partial<LeaseContext> = {}): LeaseContext => ({ liveness: () => liveness, rotationGraceMs: 0, pollMs: 25, ...over });
const lease = (over: { until?: number; sendingAt?: number; now?: number } = {}): LeaseState => ({
  owner: "holder",
  generation: 7,
  until: over.until ?? NOW + 5_000,
  now: over.now ?? NOW,
  ...(over.sendingAt !== undefined ? { sending: { at: over.sendingAt } } : {}),
});
const expect7 = { owner: "holder", generation: 7 };

describe("decideLease", () => {
  it("claims a free lease expecting it free", () => {
    expect(decideLease(null, ctx("unknown"))).toEqual({ action: "claim", expect: null, why: "free", onlyIfExpired: false });
  });

  it("waits for a live holder whose lease runs, at most until it would expire", () => {
    expect(decideLease(lease(), ctx("alive"))).toEqual({ action: "wait", ms: 25, why: "held" });
    expect(decideLease(lease({ until: NOW + 10 }), ctx("alive"))).toEqual({ action: "wait", ms: 10, why: "held" });
    expect(decideLease(lease({ sendingAt: NOW - 100 }), ctx("unknown"))).toMatchObject({ action: "wait", why: "held" });
  });

  it("takes over a dead holder at once, whatever its lease says", () => {
    expect(decideLease(lease({ until: NOW + 60_000, sendingAt: NOW - 10 }), ctx("dead"))).toEqual({ action: "claim", expect: expect7, why: "holder-dead", onlyIfExpired: false });
  });

  it("reclaims its own leftover lease", () => {
    expect(decideLease(lease(), ctx("self"))).toEqual({ action: "claim", expect: expect7, why: "own", onlyIfExpired: false });
  });

  it("claims an expired lease whose holder was not sending, conditionally on that holder and on the expiry", () => {
    for (const l of ["alive", "unknown"] as const) {
      expect(decideLease(lease({ until: NOW }), ctx(l))).toEqual({ action: "claim", expect: expect7, why: "expired", onlyIfExpired: true });
    }
  });

  it("never overtakes a live holder on this host that stalled while sending, outside the grace window", () => {
    expect(decideLease(lease({ until: NOW - 1, sendingAt: NOW - 20_000 }), ctx("alive"))).toEqual({ action: "wait", ms: 25, why: "holder-sending" });
    expect(decideLease(lease({ until: NOW - 1, sendingAt: NOW - 20_000 }), ctx("alive", { rotationGraceMs: 10_000 }))).toMatchObject({ action: "wait" });
  });

  it("overtakes it inside the provider's reuse grace window", () => {
    expect(decideLease(lease({ until: NOW - 1, sendingAt: NOW - 5_000 }), ctx("alive", { rotationGraceMs: 10_000 }))).toEqual({ action: "claim", expect: expect7, why: "grace", onlyIfExpired: true });
  });

  it("claims an expired sending lease of another host (only the expiry can tell)", () => {
    expect(decideLease(lease({ until: NOW - 1, sendingAt: NOW - 20_000 }), ctx("unknown"))).toEqual({ action: "claim", expect: expect7, why: "expired-sending", onlyIfExpired: true });
  });

  it("judges expiry by the store's clock alone: any host clock gives the same decision", () => {
    // The decision has no host time in it: a live lease (until > store now) is waited for, whatever the host believes.
    fc.assert(
      fc.property(fc.integer({ min: 1, max: 600_000 }), fc.constantFrom<Liveness>("alive", "unknown"), fc.option(fc.integer({ min: 0, max: 100_000 })), (left, liveness, sentAgo) => {
        const state = lease({ until: NOW + left, ...(sentAgo !== null ? { sendingAt: NOW - sentAgo } : {}) });
        expect(decideLease(state, ctx(liveness)).action).toBe("wait");
      }),
    );
  });

  it("a claim of another's lease is conditional on its expiry unless its holder is gone or is this process", () => {
    fc.assert(
      fc.property(fc.integer({ min: -600_000, max: 600_000 }), fc.constantFrom<Liveness>("alive", "unknown", "dead", "self"), fc.option(fc.integer({ min: 0, max: 100_000 })), fc.nat(20_000), (left, liveness, sentAgo, grace) => {
        const d = decideLease(lease({ until: NOW + left, ...(sentAgo !== null ? { sendingAt: NOW - sentAgo } : {}) }), ctx(liveness, { rotationGraceMs: grace }));
        if (d.action === "claim") expect(d.onlyIfExpired).toBe(liveness !== "dead" && liveness !== "self");
        if (d.action === "claim" && d.onlyIfExpired) expect(left).toBeLessThanOrEqual(0);
      }),
    );
  });
});

describe("decideInterrupted", () => {
  const ictx = (over: Partial<InterruptedContext> = {}): InterruptedContext => ({ now: NOW, rotationGraceMs: 0, resendIsProbe: false, windowMs: 600_000, retryCapMs: 5_000, ...over });
  const sent = (ago: number) => ({ by: "tb1:h:b:1:42:7:n", at: NOW - ago });

  it("holds the link (REFRESH_INTERRUPTED) inside the window: the answer may still come", () => {
    expect(decideInterrupted(sent(1_000), ictx())).toEqual({ action: "hold", retryAfterMs: 5_000 });
    expect(decideInterrupted(sent(599_000), ictx())).toEqual({ action: "hold", retryAfterMs: 1_000 });
  });

  it("fails it once the window is over", () => {
    expect(decideInterrupted(sent(600_000), ictx())).toEqual({ action: "fail" });
    expect(decideInterrupted(sent(1), ictx({ windowMs: 0 }))).toEqual({ action: "fail" });
  });

  it("sends again only inside the grace window, or where a resend is a harmless probe", () => {
    expect(decideInterrupted(sent(1_000), ictx({ rotationGraceMs: 2_000 }))).toEqual({ action: "resend" });
    expect(decideInterrupted(sent(3_000), ictx({ rotationGraceMs: 2_000 }))).toMatchObject({ action: "hold" });
    expect(decideInterrupted(sent(3_000_000), ictx({ resendIsProbe: true }))).toEqual({ action: "resend" });
  });

  it("never resends outside grace for a provider whose reuse is undocumented", () => {
    fc.assert(
      fc.property(fc.nat(10_000_000), fc.nat(3_600_000), fc.nat(604_800_000), (ago, grace, window) => {
        const d = decideInterrupted(sent(ago), ictx({ rotationGraceMs: grace, windowMs: window }));
        if (d.action === "resend") expect(ago).toBeLessThan(grace);
      }),
    );
  });
});

describe("withinGrace", () => {
  it("only with a declared window, and only before it ends", () => {
    expect(withinGrace(NOW, 0, NOW)).toBe(false);
    expect(withinGrace(NOW, 1_000, NOW + 999)).toBe(true);
    expect(withinGrace(NOW, 1_000, NOW + 1_000)).toBe(false);
  });
});
