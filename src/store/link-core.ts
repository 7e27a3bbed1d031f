import type { CasExpectation, HeldLease, LinkKey, LinkRecord, ListQuery, NewTokens, StoredTokens } from "./link-store.js";
import { ENDED_LEASE, type ConfirmMark } from "./lease-core.js";
import { scopesFromColumn, type LinkRow, type SealedCommit, type SealedTokens } from "./row-codec.js";
import { assertHeldLease, assertKey, assertListQuery, assertMillis, assertOwner, assertTokens } from "./validate.js";

/**
 * The store logic every LinkStore shares, written once (docs/design.md §4.2):
 * the argument checks of each method, the compare-and-swap and failure
 * decisions, and what a write of link data makes of a row. Pure functions
 * over plain rows — no I/O — so the SQL stores call them inside their
 * transactions (SQLite's bodies are synchronous: so is everything here) and
 * the in-memory store (store/memory/) is nothing but these decisions over a
 * Map. The lease decisions are in lease-core.ts.
 */

/** Whether a stored refresh-token digest is the digest of a plaintext token (Sealer.digestMatches). */
export type DigestMatches = (digest: string, plaintext: string) => boolean;

/**
 * Argument checks per LinkStore method, run before anything touches the
 * database so a bad argument rejects without a write. The order within
 * each is the order the stores always checked in, so a call with several
 * bad arguments fails the same way on every store.
 */
export const checkArgs = {
  get(key: LinkKey): void {
    assertKey(key);
  },
  put(key: LinkKey, tokens: StoredTokens, now: number): void {
    assertKey(key);
    assertTokens(tokens);
    assertMillis("now", now);
  },
  /** putMany checks `now` first, then each item as it seals it (putManyItem). */
  putMany(now: number): void {
    assertMillis("now", now);
  },
  putManyItem(key: LinkKey, tokens: StoredTokens): void {
    assertKey(key);
    assertTokens(tokens);
  },
  commitRefresh(key: LinkKey, expect: CasExpectation, tokens: NewTokens, now: number): void {
    assertKey(key);
    assertTokens(tokens);
    assertMillis("now", now);
    assertMillis("expect.version", expect.version);
    if (typeof expect.refreshToken !== "string") throw new TypeError("expect.refreshToken must be a string");
  },
  recordFailure(key: LinkKey, refreshToken: string, reason: string, now: number): void {
    assertKey(key);
    assertMillis("now", now);
    if (typeof refreshToken !== "string") throw new TypeError("refreshToken must be a string");
    if (typeof reason !== "string") throw new TypeError("reason must be a string");
  },
  readLease(key: LinkKey): void {
    assertKey(key);
  },
  claimLease(key: LinkKey, owner: string, ttlMs: number, expect: HeldLease | null, opts: { onlyIfExpired?: boolean }): void {
    assertKey(key);
    assertOwner(owner);
    assertMillis("ttlMs", ttlMs, { min: 1 });
    if (expect !== null) assertHeldLease(expect, "expect");
    if (opts.onlyIfExpired !== undefined && typeof opts.onlyIfExpired !== "boolean") throw new TypeError("opts.onlyIfExpired must be a boolean");
  },
  confirmLease(key: LinkKey, lease: HeldLease, version: number, ttlMs: number, opts: { mark?: ConfirmMark }): void {
    assertKey(key);
    assertHeldLease(lease, "lease");
    assertMillis("version", version);
    assertMillis("ttlMs", ttlMs, { min: 1 });
    if (opts.mark !== undefined && opts.mark !== "sending" && opts.mark !== "clear") throw new TypeError('opts.mark must be "sending" or "clear"');
  },
  releaseLease(key: LinkKey, lease: HeldLease): void {
    assertKey(key);
    assertHeldLease(lease, "lease");
  },
  delete(key: LinkKey): void {
    assertKey(key);
  },
  list(query: ListQuery): void {
    assertListQuery(query);
  },
};

/** The refresh token a put stores: an empty one is none (NULL), never a sealed "". */
export function putRefreshToken(tokens: StoredTokens): string | null {
  return tokens.refreshToken === "" ? null : tokens.refreshToken;
}

/** What the compare-and-swap reads of the row. */
export type CasRow = Pick<LinkRow, "version" | "refresh_token" | "refresh_token_digest" | "failed_digest">;

/**
 * The compare-and-swap of commitRefresh, given the row as read inside the
 * write's transaction: write iff the answer is to the refresh token the row
 * holds and nothing newer superseded it (docs/design.md §4.2) — the row
 * still has the version the refresh read and still holds the refresh token
 * that was sent, OR it holds no refresh token because a recorded failure
 * cleared exactly the one that was sent (failed_digest: a heal). Not
 * conditional on the lease: tokens the provider already issued are never
 * dropped because a lease lapsed. A put or a commit clears failed_digest,
 * so a re-linked or already refreshed row is never healed.
 */
export function casAllows<R extends CasRow>(row: R | undefined, expect: CasExpectation, digestMatches: DigestMatches): row is R {
  if (row === undefined) return false;
  const holds = row.refresh_token_digest !== null && row.version === expect.version && digestMatches(row.refresh_token_digest, expect.refreshToken);
  return holds || healAllows(row, expect, digestMatches);
}

/** The second half of casAllows: the row was failed for exactly the refresh token the answer is to. */
function healAllows(row: CasRow, expect: CasExpectation, digestMatches: DigestMatches): boolean {
  return row.refresh_token === null && row.failed_digest !== null && digestMatches(row.failed_digest, expect.refreshToken);
}

/**
 * recordFailure's decision, given the row as read inside the write's
 * transaction: the stored digest to condition the write on iff the row
 * still holds `refreshToken`, else undefined (refuse: someone committed a
 * newer token, or the failure is already recorded).
 */
export function failureAllows(row: Pick<LinkRow, "refresh_token_digest"> | undefined, refreshToken: string, digestMatches: DigestMatches): string | undefined {
  const digest = row?.refresh_token_digest ?? null;
  if (digest === null || !digestMatches(digest, refreshToken)) return undefined;
  return digest;
}

/** The stored columns a commit keeps when the answer omits them (no rotated refresh token, no extra). */
export type KeptColumns = Pick<LinkRow, "refresh_token" | "refresh_token_digest" | "extra" | "account" | "granted_scopes">;

/**
 * The refresh token, its digest and extra a commit writes: the answer's, or
 * the stored ones it omitted — except that a heal (no refresh token stored:
 * a failure cleared it) whose answer did not rotate restores the token that
 * was sent, which the provider still honours.
 */
export function committedColumns(row: KeptColumns, t: SealedCommit): KeptColumns {
  const refresh = t.refresh ?? (row.refresh_token === null ? t.sent : undefined);
  return {
    refresh_token: refresh === undefined ? row.refresh_token : refresh.token,
    refresh_token_digest: refresh === undefined ? row.refresh_token_digest : refresh.digest,
    extra: t.extra === undefined ? row.extra : t.extra,
    account: t.account === undefined ? row.account : t.account,
    granted_scopes: t.granted_scopes === undefined ? row.granted_scopes : t.granted_scopes,
  };
}

/** The record a put returns: what was written, with the row's version and creation time. */
export function putRecord(key: LinkKey, tokens: StoredTokens, row: { version: number; createdAt: number }, now: number): LinkRecord {
  return {
    ...key,
    version: row.version,
    accessToken: tokens.accessToken,
    tokenType: tokens.tokenType,
    refreshToken: putRefreshToken(tokens),
    expiresAt: tokens.expiresAt,
    extra: { ...tokens.extra },
    refreshFailure: null,
    createdAt: row.createdAt,
    updatedAt: now,
    lastRefreshedAt: null,
    account: tokens.account ?? null,
    grantedScopes: tokens.grantedScopes === undefined || tokens.grantedScopes === null ? null : [...tokens.grantedScopes],
  };
}

/**
 * The record a commit returns, built from what it wrote without opening
 * the row again: a kept refresh token is the one the CAS matched
 * (`expect.refreshToken`, restored by a heal); a kept extra is opened by `keptExtra`, after the
 * commit (if that fails, the commit has still happened).
 */
export function committedRecord(
  key: LinkKey,
  before: Pick<LinkRow, "version" | "account" | "granted_scopes"> & { createdAt: number },
  expect: CasExpectation,
  tokens: NewTokens,
  sealed: SealedTokens,
  keptExtra: () => Record<string, string>,
  now: number,
): LinkRecord {
  return {
    ...key,
    version: before.version + 1,
    accessToken: tokens.accessToken,
    tokenType: tokens.tokenType,
    refreshToken: sealed.refresh === undefined ? expect.refreshToken : sealed.refresh.plain,
    expiresAt: tokens.expiresAt,
    extra: tokens.extra === undefined ? keptExtra() : { ...tokens.extra },
    refreshFailure: null,
    createdAt: before.createdAt,
    updatedAt: now,
    lastRefreshedAt: now,
    account: tokens.account === undefined ? before.account : tokens.account,
    grantedScopes: tokens.grantedScopes === undefined ? scopesFromColumn(before.granted_scopes) : tokens.grantedScopes === null ? null : [...tokens.grantedScopes],
  };
}

/**
 * The row a put leaves (SQL: the upsert): a new row at version 1 and
 * generation 0, or the old one replaced — version + 1, created_at and the
 * generation kept, failure (failed_digest too), lease and marker cleared.
 */
export function putRow(old: LinkRow | undefined, key: LinkKey, t: SealedTokens, now: number): LinkRow {
  const refresh = t.refresh ?? { token: null, digest: null };
  return {
    provider_id: key.providerId,
    user_id: key.userId,
    version: old === undefined ? 1 : old.version + 1,
    access_token: t.access_token,
    token_type: t.token_type,
    refresh_token: refresh.token,
    refresh_token_digest: refresh.digest,
    expires_at: t.expires_at,
    extra: t.extra ?? null,
    failure_reason: null,
    failed_at: null,
    failed_digest: null,
    account: t.account ?? null,
    granted_scopes: t.granted_scopes ?? null,
    ...ENDED_LEASE,
    generation: old?.generation ?? 0,
    created_at: old?.created_at ?? now,
    updated_at: now,
    last_refreshed_at: null,
  };
}

/** The row a commit the CAS allowed leaves (SQL: COMMIT): a heal clears the failure like any commit. */
export function commitRow(row: LinkRow, t: SealedCommit, now: number): LinkRow {
  return {
    ...row,
    ...committedColumns(row, t),
    version: row.version + 1,
    access_token: t.access_token,
    token_type: t.token_type,
    expires_at: t.expires_at,
    failure_reason: null,
    failed_at: null,
    failed_digest: null,
    ...ENDED_LEASE,
    updated_at: now,
    last_refreshed_at: now,
  };
}

/**
 * The row a failure recordFailure allowed leaves (SQL: RECORD_FAILURE): the
 * refresh token cleared, its digest kept as failed_digest (a late answer to
 * its send may still heal the link), the reason stored.
 */
export function failureRow(row: LinkRow, reason: Buffer | null, now: number): LinkRow {
  return {
    ...row,
    version: row.version + 1,
    refresh_token: null,
    refresh_token_digest: null,
    failed_digest: row.refresh_token_digest,
    failure_reason: reason,
    failed_at: now,
    ...ENDED_LEASE,
    updated_at: now,
  };
}
