import type { Reason } from "../errors/index.js";
import type { LinkKey } from "../store/link-store.js";

/** How a refresh that reached the provider ended: a reason, or that the link changed meanwhile and the result was set aside. */
export type RefreshOutcome = "OK" | Reason | "DISCARDED";

/**
 * What the engine reports as it works, for metrics and the audit log. Each
 * is called synchronously where it happens, so it runs in the context of
 * the call that caused it; none may throw.
 */
export interface EngineEvents {
  /** A refresh that sent the refresh token ended (after its retries; the commit landed or was handed to the store's retries). */
  refreshed(key: LinkKey, outcome: RefreshOutcome, durationMs: number): void;
  /** A refusal was stored on the link: it needs re-linking. `answered`: the provider refused (else an interrupted refresh was failed without sending). */
  failureRecorded(key: LinkKey, reason: Reason, answered: boolean): void;
  /**
   * A provider's answer was stored after another process had taken the lease
   * or failed the link for that very send (docs/design.md §3 invariant 12).
   */
  healed(key: LinkKey): void;
  /** One request to the token endpoint ended, answered or not. */
  tokenEndpoint(providerId: string, seconds: number): void;
  /** A caller waited this long for its key's refresh lock. */
  lockWait(seconds: number): void;
  /** The provider's validate answer said how many requests its rate limit has left. */
  rateLimitRemaining(providerId: string, remaining: number): void;
}

export const noEvents: EngineEvents = {
  refreshed: () => undefined,
  failureRecorded: () => undefined,
  healed: () => undefined,
  tokenEndpoint: () => undefined,
  lockWait: () => undefined,
  rateLimitRemaining: () => undefined,
};
