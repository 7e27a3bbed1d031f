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
