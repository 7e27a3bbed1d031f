import type { CallScope } from "../audit/call-scope.js";
import type { Reason } from "../errors/index.js";
import type { LinkKey } from "../store/link-store.js";

/** How a refresh that reached the provider ended: a reason, or that the link changed meanwhile and the result was set aside. */
export type RefreshOutcome = "OK" | Reason | "DISCARDED";

/**
 * How a background refresh (docs/design.md §3.4) ended: REFRESHED (this
 * process sent the refresh token and the answer was stored), NOT_NEEDED
 * (the re-read under the lock or after the lease found the link already
 * refreshed — by a caller, another process or another host), or the reason
 * it failed (callers keep the current token meanwhile).
 */
export type AheadOutcome = "REFRESHED" | "NOT_NEEDED" | Reason;

/**
 * What the engine reports as it works, for metrics and the audit log. Each
 * is called synchronously where it happens; `cause` is the call whose work
 * it was (undefined for the engine's own, a refresh ahead of expiry). None
 * may throw.
 */
export interface EngineEvents {
  /** A refresh that sent the refresh token ended (after its retries; the commit landed or was handed to the store's retries). */
  refreshed(key: LinkKey, outcome: RefreshOutcome, durationMs: number, cause: CallScope | undefined): void;
  /** A refusal was stored on the link: it needs re-linking. `answered`: the provider refused (else an interrupted refresh was failed without sending). */
  failureRecorded(key: LinkKey, reason: Reason, answered: boolean, cause: CallScope | undefined): void;
  /**
   * A provider's answer was stored after another process had taken the lease
   * or failed the link for that very send (docs/design.md §3 invariant 12).
   */
  healed(key: LinkKey, cause: CallScope | undefined): void;
  /** One request to the token endpoint ended, answered or not. */
  tokenEndpoint(providerId: string, seconds: number): void;
  /** A caller waited this long for its key's refresh lock. */
  lockWait(seconds: number): void;
  /** The provider's validate answer said how many requests its rate limit has left. */
  rateLimitRemaining(providerId: string, remaining: number): void;
  /** A background refresh ahead of expiry ended (docs/design.md §3.4). */
  refreshedAhead(key: LinkKey, outcome: AheadOutcome): void;
}

export const noEvents: EngineEvents = {
  refreshed: () => undefined,
  failureRecorded: () => undefined,
  healed: () => undefined,
  tokenEndpoint: () => undefined,
  lockWait: () => undefined,
  rateLimitRemaining: () => undefined,
  refreshedAhead: () => undefined,
};
