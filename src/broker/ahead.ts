import type { LinkRecord } from "../store/link-store.js";
import type { TokenWish } from "./rejected-token.js";
import { isFresh } from "./freshness.js";

/**
 * Refreshing ahead of expiry (docs/design.md §3.4): when a link in use is
 * due for a background refresh, and what a refresh must achieve to count as
 * done. Pure: the scheduler (proactive.ts) and the engine's judgement (the
 * re-read under the lock, and again after the lease) call the same
 * functions, so a host that finds the link already refreshed by another
 * sends nothing.
 */

/** The advisory window opens at this fraction of a token's lifetime; a background refresh is scheduled between it and AHEAD_LATEST. */
export const AHEAD_EARLIEST = 0.75;
export const AHEAD_LATEST = 0.8;

/** What a background refresh aims for: the largest min_valid_for asked recently, and the provider's idle refresh-token lifetime. */
export interface AheadPlan {
  /** The largest min_valid_for callers asked for the link recently (0 when it is kept alive only against idleness). */
  maxMinValidMs: number;
  /** Whether callers use the link (refresh ahead of the access token's expiry). */
  inUse: boolean;
  /** The provider's refresh tokens die after this long unused (refresh_token_idle_lifetime); undefined: they do not. */
  idleLifetimeMs: number | undefined;
  /**
   * The share of the useful life from which this refresh counts as needed:
   * AHEAD_EARLIEST unless the scheduler started it early to get through a
   * backlog (ahead-capacity.ts; never below its floor, 0.5). Without it the
   * engine would find such a link outside its advisory window and send
   * nothing.
   */
  earliest?: number;
}

/** What a refresh is asked to achieve: a caller's min_valid_for, and for a background refresh its plan. */
export interface Want {
  minValidMs: number;
  ahead?: AheadPlan;
  /** The erase compare-and-swap (rejected-token.ts): an access token the caller saw refused. */
  wish?: TokenWish | undefined;
}

/** What a schedule reads of a record: its times. */
export type Timed = Pick<LinkRecord, "expiresAt" | "lastRefreshedAt" | "updatedAt">;

/** When the access token (and the refresh token with it) was last issued, as this process can tell. */
function issuedAt(rec: Pick<LinkRecord, "lastRefreshedAt" | "updatedAt">): number {
  return rec.lastRefreshedAt ?? rec.updatedAt;
}

/** A useful life shorter than this share of the lifetime is not refreshed ahead any sooner (callers asking that much wait for their own refresh). */
const MIN_USEFUL_SHARE = 0.1;

/**
 * When a background refresh of `rec` is due: at `fraction` (0.75–0.8) of the
 * time its token can satisfy the link's callers — its lifetime less the
 * largest `min_valid_for` asked recently, so always before expiry − that
 * `min_valid_for`, with the rest of the window for the refresh itself. A
 * useful life under a tenth of the lifetime counts as a tenth (a refresh
 * per sliver would be a refresh loop; when the provider's tokens live no
 * longer than `min_valid_for` §3 invariant 16's answer stands). For an
 * idle-lifetime provider, at `fraction` of that lifetime since the refresh
 * token was issued. Infinity: never (a token that does not expire, with no
 * idle lifetime).
 */
export function aheadDueAt(rec: Timed, plan: AheadPlan, fraction: number): number {
  const from = issuedAt(rec);
  let due = Number.POSITIVE_INFINITY;
  if (plan.inUse && rec.expiresAt !== null) {
    const lifetime = Math.max(0, rec.expiresAt - from);
    const useful = Math.max(lifetime - plan.maxMinValidMs, lifetime * MIN_USEFUL_SHARE);
    due = from + useful * fraction;
  }
  if (plan.idleLifetimeMs !== undefined) due = Math.min(due, from + plan.idleLifetimeMs * fraction);
  return due;
}

/** Whether `rec` is inside its advisory window at `now`: still good for the caller, due for a refresh in the background. */
export function inAdvisoryWindow(rec: Timed, plan: AheadPlan, now: number): boolean {
  return now >= aheadDueAt(rec, plan, AHEAD_EARLIEST);
}

/**
 * Whether `rec` gives what `want` asks: fresh for its min_valid_for, and for
 * a background refresh no longer inside the advisory window (judged at its
 * earliest edge, so every host agrees once one of them refreshed; for one
 * started early for a backlog at the plan's `earliest`, which a token
 * refreshed since is still short of).
 */
export function satisfies(rec: Timed & Pick<LinkRecord, "accessToken">, want: Want, now: number): boolean {
  if (!isFresh(rec, want.minValidMs, now)) return false;
  return want.ahead === undefined || now < aheadDueAt(rec, want.ahead, want.ahead.earliest ?? AHEAD_EARLIEST);
}
