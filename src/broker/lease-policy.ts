import type { InterruptedRefresh, LeaseState } from "../store/link-store.js";
import type { Liveness } from "./lease-owner.js";

/**
 * Whether this process may claim a row's lease now, or must wait for its
 * holder (docs/design.md §3 invariants 1, 10 and 13). Pure: the store claims
 * conditionally on exactly the lease this decision was made on, so a
 * decision made on a stale read changes nothing. Expiry and ages are judged
 * by the store's clock (`state.now`), never by this host's: a host whose
 * clock stepped cannot decide that a live lease expired, and a takeover of
 * an expired lease is conditional on the expiry again inside the store
 * (`onlyIfExpired`).
 */
export type LeaseDecision =
  | { action: "claim"; expect: { owner: string; generation: number } | null; why: ClaimReason; onlyIfExpired: boolean }
  | { action: "wait"; ms: number; why: "held" | "holder-sending" };

export type ClaimReason =
  /** No one holds it. */
  | "free"
  /** Its holder stopped renewing it and was not sending. */
  | "expired"
  /** Its holder was on this host and is gone: no need to wait out the lease. */
  | "holder-dead"
  /** This process left it behind. */
  | "own"
  /** Its holder is alive but stalled while sending; the provider's reuse grace window still covers a second send. */
  | "grace"
  /** Its holder is on another host and stopped renewing while sending: only the expiry can tell. */
  | "expired-sending";

export interface LeaseContext {
  liveness: (owner: string) => Liveness;
  /** The provider's declared refresh-token reuse grace window; 0 when it has none. */
  rotationGraceMs: number;
  /** How long to wait before looking again. */
  pollMs: number;
}

export function decideLease(state: LeaseState | null, ctx: LeaseContext): LeaseDecision {
  if (state === null) return { action: "claim", expect: null, why: "free", onlyIfExpired: false };
  const expect = { owner: state.owner, generation: state.generation };
  const liveness = ctx.liveness(state.owner);
  if (liveness === "self") return { action: "claim", expect, why: "own", onlyIfExpired: false };
  if (liveness === "dead") return { action: "claim", expect, why: "holder-dead", onlyIfExpired: false };
  // A holder that renews its lease is working: wait for its result.
  if (state.until > state.now) return { action: "wait", ms: Math.min(ctx.pollMs, state.until - state.now), why: "held" };
  // Expired and not sending: a claim fences the old holder out (it confirms
  // its lease before every send and finds it gone).
  if (state.sending === undefined) return { action: "claim", expect, why: "expired", onlyIfExpired: true };
  if (liveness === "unknown") return { action: "claim", expect, why: "expired-sending", onlyIfExpired: true };
  // Alive on this host, paused or stuck mid-send: a second send of the same
  // single-use token would be a replay, unless the provider's grace window
  // since that send still covers it.
  if (withinGrace(state.sending.at, ctx.rotationGraceMs, state.now)) return { action: "claim", expect, why: "grace", onlyIfExpired: true };
  return { action: "wait", ms: ctx.pollMs, why: "holder-sending" };
}

/** Whether a refresh sent at `sentAt` may be sent again now: only inside the provider's reuse grace window. */
export function withinGrace(sentAt: number, rotationGraceMs: number, now: number): boolean {
  return rotationGraceMs > 0 && now < sentAt + rotationGraceMs;
}

/** What to do with a claimed row whose last send never finished (docs/design.md §3 invariants 11 and 12). */
export type InterruptedDecision =
  /** Send the stored token again: inside the grace window, or a resend is a harmless probe at this provider. */
  | { action: "resend" }
  /** The answer may still come and heal the link: answer REFRESH_INTERRUPTED, keep the mark, send nothing. */
  | { action: "hold"; retryAfterMs: number }
  /** The window is over: fail the link, naming the interruption (a late answer can still heal it). */
  | { action: "fail" };

export interface InterruptedContext {
  /** The store's clock at the claim. */
  now: number;
  rotationGraceMs: number;
  resendIsProbe: boolean;
  /** refresh.interrupted_window. */
  windowMs: number;
  /** The longest retry delay to give a caller meanwhile. */
  retryCapMs: number;
}

export function decideInterrupted(interrupted: InterruptedRefresh, ctx: InterruptedContext): InterruptedDecision {
  if (withinGrace(interrupted.at, ctx.rotationGraceMs, ctx.now) || ctx.resendIsProbe) return { action: "resend" };
  const left = interrupted.at + ctx.windowMs - ctx.now;
  if (left > 0) return { action: "hold", retryAfterMs: Math.max(1, Math.min(left, ctx.retryCapMs)) };
  return { action: "fail" };
}
