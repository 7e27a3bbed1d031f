import type { LeaseState } from "../store/link-store.js";
import type { Liveness } from "./lease-owner.js";

/**
 * Whether this process may claim a row's lease now, or must wait for its
 * holder (docs/design.md §3 invariants 1 and 14). Pure: the store claims
 * conditionally on exactly the lease this decision was made on, so a
 * decision made on a stale read changes nothing.
 */
export type LeaseDecision =
  | { action: "claim"; expect: { owner: string; generation: number } | null; why: ClaimReason }
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
  now: number;
  liveness: (owner: string) => Liveness;
  /** The provider's declared refresh-token reuse grace window; 0 when it has none. */
  rotationGraceMs: number;
  /** How long to wait before looking again. */
  pollMs: number;
}

export function decideLease(state: LeaseState | null, c: LeaseContext): LeaseDecision {
  if (state === null) return { action: "claim", expect: null, why: "free" };
  const expect = { owner: state.owner, generation: state.generation };
  const liveness = c.liveness(state.owner);
  if (liveness === "self") return { action: "claim", expect, why: "own" };
  if (liveness === "dead") return { action: "claim", expect, why: "holder-dead" };
  // A holder that renews its lease is working: wait for its result.
  if (state.until > c.now) return { action: "wait", ms: Math.min(c.pollMs, state.until - c.now), why: "held" };
  // Expired and not sending: a claim fences the old holder out (it confirms
  // its lease before every send and finds it gone).
  if (state.sending === undefined) return { action: "claim", expect, why: "expired" };
  if (liveness === "unknown") return { action: "claim", expect, why: "expired-sending" };
  // Alive on this host, paused or stuck mid-send: a second send of the same
  // single-use token would be a replay, unless the provider's grace window
  // since that send still covers it.
  if (c.rotationGraceMs > 0 && c.now < state.sending.at + c.rotationGraceMs) return { action: "claim", expect, why: "grace" };
  return { action: "wait", ms: c.pollMs, why: "holder-sending" };
}

/** Whether a refresh sent at `sentAt` may be sent again now: only inside the provider's reuse grace window. */
export function withinGrace(sentAt: number, rotationGraceMs: number, now: number): boolean {
  return rotationGraceMs > 0 && now < sentAt + rotationGraceMs;
}
