import type { HeldLease, LinkKey, ListQuery, NewTokens, StoredTokens } from "./link-store.js";

/**
 * Argument checks for the stores (SQLite and PostgreSQL). They run before any statement so a
 * bad argument rejects without touching the database.
 */

export function assertKey(key: LinkKey, what = "key"): void {
  if (typeof key !== "object" || key === null) throw new TypeError(`${what} must be an object`);
  if (typeof key.providerId !== "string" || key.providerId === "") throw new TypeError(`${what}.providerId must be a non-empty string`);
  if (typeof key.userId !== "string" || key.userId === "") throw new TypeError(`${what}.userId must be a non-empty string`);
}

/** Epoch milliseconds (or a duration) as a safe integer; both stores keep them as 64-bit integers. */
export function assertMillis(name: string, value: number, { min = 0 }: { min?: number } = {}): void {
  if (!Number.isSafeInteger(value) || value < min) throw new RangeError(`${name} must be an integer >= ${min} (got ${String(value)})`);
}

export function assertOwner(owner: string, what = "owner"): void {
  if (typeof owner !== "string" || owner === "") throw new TypeError(`${what} must be a non-empty string`);
}

export function assertHeldLease(lease: HeldLease, what: string): void {
  if (typeof lease !== "object" || lease === null) throw new TypeError(`${what} must be an object`);
  assertOwner(lease.owner, `${what}.owner`);
  assertMillis(`${what}.generation`, lease.generation);
}

export function assertTokens(tokens: NewTokens | StoredTokens): void {
  if (typeof tokens !== "object" || tokens === null) throw new TypeError("tokens must be an object");
  if (typeof tokens.accessToken !== "string") throw new TypeError("tokens.accessToken must be a string");
  if (typeof tokens.tokenType !== "string") throw new TypeError("tokens.tokenType must be a string");
  if (tokens.refreshToken !== undefined && tokens.refreshToken !== null && typeof tokens.refreshToken !== "string") {
    throw new TypeError("tokens.refreshToken must be a string, null or undefined");
  }
  if (tokens.expiresAt !== null) assertMillis("tokens.expiresAt", tokens.expiresAt, { min: Number.MIN_SAFE_INTEGER });
  if (tokens.account !== undefined && tokens.account !== null && typeof tokens.account !== "string") {
    throw new TypeError("tokens.account must be a string, null or undefined");
  }
  const scopes = tokens.grantedScopes;
  if (scopes !== undefined && scopes !== null) {
    // Stored space-separated: a scope token is 1*( %x21 / %x23-5B / %x5D-7E ) (RFC 6749 §3.3), never a space.
    if (!Array.isArray(scopes) || scopes.some((s) => typeof s !== "string" || s === "" || /\s/.test(s))) {
      throw new TypeError("tokens.grantedScopes must be an array of non-empty scope tokens without spaces, null or undefined");
    }
  }
}

export function assertListQuery(query: ListQuery): void {
  if (!Number.isSafeInteger(query.limit) || query.limit < 0) throw new RangeError(`limit must be an integer >= 0 (got ${String(query.limit)})`);
  if (query.after !== undefined) assertKey(query.after, "after");
}
