import type { LinkRecord } from "../store/link-store.js";

/** The access token stays valid at least `minValidMs` from `now`. */
export function isFresh(rec: Pick<LinkRecord, "expiresAt" | "accessToken">, minValidMs: number, now: number): boolean {
  return rec.accessToken !== "" && (rec.expiresAt === null || rec.expiresAt - now >= minValidMs);
}

/** The access token still works at all (not necessarily for long). */
export function isUsable(rec: Pick<LinkRecord, "expiresAt" | "accessToken">, now: number): boolean {
  return rec.accessToken !== "" && (rec.expiresAt === null || rec.expiresAt > now);
}

/**
 * Whether `current` holds tokens from a refresh that another caller completed
 * after `seen` was read: its refresh token differs from the one we held and
 * its access token works. A cleared (NULL) refresh token is never a win.
 */
export function isWinner(current: LinkRecord | undefined, ourRefreshToken: string, now: number): boolean {
  return current !== undefined && current.refreshToken !== null && current.refreshToken !== ourRefreshToken && isUsable(current, now);
}

/**
 * How long the provider's last token lived when issued, if this process
 * knows: only for tokens from a refresh (last_refreshed_at is the commit
 * time, moments after issue). An imported or freshly linked token's expiry
 * says how long it had left, not how long the provider issues tokens for.
 */
export function issuedLifetimeMs(rec: Pick<LinkRecord, "expiresAt" | "lastRefreshedAt">): number | undefined {
  if (rec.expiresAt === null || rec.lastRefreshedAt === null) return undefined;
  return Math.max(0, rec.expiresAt - rec.lastRefreshedAt);
}

/**
 * The provider's tokens cannot satisfy `minValidMs` and the current one still
 * works: refreshing would only mint another token just as short-lived
 * (docs/design.md §3 invariant 16). Once it stops working, one refresh runs.
 */
export function minValidityUnreachable(rec: Pick<LinkRecord, "expiresAt" | "lastRefreshedAt" | "accessToken">, minValidMs: number, now: number): number | undefined {
  const lifetime = issuedLifetimeMs(rec);
  // A token that lives exactly min_valid_for has less left by the time anyone gets it.
  return lifetime !== undefined && lifetime <= minValidMs && isUsable(rec, now) ? lifetime : undefined;
}
