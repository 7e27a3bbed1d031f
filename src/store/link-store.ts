/**
 * LinkStore is what the refresh engine and the RPC layer need from storage.
 * It is async so a networked store (PostgreSQL) can implement it the same way
 * as the embedded SQLite one. All times are epoch milliseconds.
 *
 * Values are plaintext at this interface; implementations seal every secret
 * column through a Sealer (crypto/sealer.ts) and store NULL for empty ones.
 * A storage fault that may pass (busy, full, I/O) rejects with
 * StoreUnavailableError (store-errors.ts); docs/design.md §4 describes the
 * model, the lease included.
 */

export interface LinkKey {
  providerId: string;
  userId: string;
}

/**
 * A key as one string, for in-process maps: the engine's locks, failure
 * memory and pending commits, the record caches, the memory store's rows.
 * NUL cannot occur in an id (the RPC layer refuses it), so no two keys meet.
 */
export function linkKeyId(key: LinkKey): string {
  return `${key.providerId}\u0000${key.userId}`;
}

export interface LinkRecord extends LinkKey {
  /** Incremented on every write of link data (not by lease bookkeeping or re-sealing). */
  version: number;
  accessToken: string;
  tokenType: string;
  /** null when there is none (never stored, or cleared after a permanent failure). */
  refreshToken: string | null;
  /** null = does not expire */
  expiresAt: number | null;
  extra: Record<string, string>;
  refreshFailure: { reason: string; failedAt: number } | null;
  createdAt: number;
  updatedAt: number;
  lastRefreshedAt: number | null;
  /**
   * Which account at the provider the link belongs to (its login, username
   * or OIDC `sub`), as the provider named it when the link was made; null
   * when unknown. Not a secret; kept by refreshes (migration 6).
   */
  account: string | null;
  /**
   * The scopes the provider said it granted (the token response's `scope`,
   * RFC 6749 §5.1); null when it never said. A refresh answer without
   * `scope` keeps them (§6: unchanged), one with `scope` replaces them.
   */
  grantedScopes: string[] | null;
}

/** What a listing returns: no secrets are opened for it. */
export interface LinkMeta extends LinkKey {
  version: number;
  hasRefreshToken: boolean;
  expiresAt: number | null;
  refreshFailure: { failedAt: number } | null;
  createdAt: number;
  updatedAt: number;
  lastRefreshedAt: number | null;
  account: string | null;
  grantedScopes: string[] | null;
}

export interface NewTokens {
  accessToken: string;
  tokenType: string;
  /** undefined keeps the stored refresh token (the provider did not rotate it). */
  refreshToken?: string | undefined;
  expiresAt: number | null;
  /** undefined keeps the stored extra. */
  extra?: Record<string, string> | undefined;
  /** undefined keeps the stored account (a put stores none: NULL). */
  account?: string | null | undefined;
  /** undefined keeps the stored granted scopes (a put stores none: NULL). */
  grantedScopes?: string[] | null | undefined;
}

/** A complete set of tokens, as ImportLink or a code exchange stores them. */
export type StoredTokens = Omit<NewTokens, "refreshToken" | "extra"> & { refreshToken: string | null; extra: Record<string, string> };

export interface CasExpectation {
  /** The version read before the refresh. */
  version: number;
  /** The refresh token that was sent to the provider. */
  refreshToken: string;
}

/**
 * Who holds a row's lease and whether it was sending. Every time here is in
 * the store's clock (the database's: docs/design.md §3 invariant 13), and
 * `now` is that clock when the row was read, so the engine judges expiry and
 * ages by one clock for the whole fleet, never by its own.
 */
export interface LeaseState {
  owner: string;
  /** When the lease ends (epoch ms, store clock); the store never judges expiry itself: that policy is the engine's. */
  until: number;
  generation: number;
  /** Set when the holder recorded that it is sending the *currently stored* refresh token. */
  sending?: { at: number };
  /** The store's clock when this was read. */
  now: number;
}

/** A lease this caller holds: every lease write is conditional on both. */
export interface HeldLease {
  owner: string;
  generation: number;
}

/** A refresh that was sent with the stored refresh token and never finished (commit / failure / clean release). */
export interface InterruptedRefresh {
  by: string;
  /** When it was sent (store clock). */
  at: number;
}

export type LeaseClaim =
  /** `now`: the store's clock at the claim (the engine measures an interruption's age against it). */
  | { claimed: true; lease: HeldLease; record: LinkRecord; interrupted?: InterruptedRefresh; now: number }
  /** `held` is null when a conditional claim found the lease already released (claim again with `expect` null). */
  | { claimed: false; held: LeaseState | null }
  | { claimed: false; missing: true };

export interface ListQuery {
  userId?: string;
  providerId?: string;
  /** Exclusive lower bound in (providerId, userId) order, for paging. */
  after?: LinkKey;
  limit: number;
}

export interface LinkStore {
  get(key: LinkKey): Promise<LinkRecord | undefined>;
  /**
   * Creates or replaces a link's tokens (import, code exchange); clears any
   * failure, the lease and the sending marker.
   */
  put(key: LinkKey, tokens: StoredTokens, now: number): Promise<LinkRecord>;
  /**
   * Commits a refresh result iff the answer is to the refresh token the row
   * holds and nothing newer superseded it (docs/design.md §3 invariant 12):
   * the row still has `expect.version` and still holds `expect.refreshToken`,
   * OR the row has no refresh token because a recorded failure cleared
   * exactly `expect.refreshToken` (failed_digest) — an answer heals a link
   * that was failed for the interruption of the very send it answers. Not
   * conditional on the lease: tokens the provider already issued are never
   * dropped because a lease lapsed. Also clears the lease, the sending marker,
   * any failure and failed_digest, and sets last_refreshed_at. Durable before
   * it resolves. Returns undefined (and changes nothing) otherwise.
   */
  commitRefresh(key: LinkKey, expect: CasExpectation, tokens: NewTokens, now: number): Promise<LinkRecord | undefined>;
  /**
   * Records a permanent refresh failure iff `refreshToken` is still the stored
   * one: clears the refresh token (NULL), remembers its digest (failed_digest,
   * so a late answer to its send can still heal the link), stores the reason,
   * clears the lease and the sending marker. Returns false (and changes
   * nothing) otherwise.
   */
  recordFailure(key: LinkKey, refreshToken: string, reason: string, now: number): Promise<boolean>;
  /** The row's lease, read without writing: null when free, undefined when there is no row. */
  readLease(key: LinkKey): Promise<LeaseState | null | undefined>;
  /**
   * Claims the lease (generation + 1, until = the store's now + ttlMs) iff it
   * is exactly as the caller observed: `expect === null` → only if free;
   * otherwise only if owner AND generation equal `expect` (the engine decided
   * the holder's lease expired or the holder is dead) and, with
   * `onlyIfExpired`, only if the lease has expired by the store's clock — a
   * host whose own clock stepped forward cannot take a live lease.
   * `interrupted` is set when the row records that some owner was sending the
   * currently stored refresh token (see confirmLease). A row that fails to
   * open rejects (DecryptError) and is left unclaimed.
   */
  claimLease(key: LinkKey, owner: string, ttlMs: number, expect: HeldLease | null, opts?: { onlyIfExpired?: boolean }): Promise<LeaseClaim>;
  /**
   * Renews the lease to the store's now + ttlMs iff `lease` (owner +
   * generation) still holds it, it has not expired by the store's clock
   * (lease_until > now: once expired another process may have judged it
   * free, so its holder must claim anew) AND the row still has `version`.
   * `mark: "sending"` also records, in the same write, that the holder is
   * about to send the stored refresh token (when, by whom, that token's
   * digest); `mark: "clear"` clears that record (the provider answered
   * without rotating, so nothing is in doubt). Returns false (changing
   * nothing) when the lease was lost, expired or the row changed.
   */
  confirmLease(key: LinkKey, lease: HeldLease, version: number, ttlMs: number, opts?: { mark?: "sending" | "clear" }): Promise<boolean>;
  /**
   * Releases iff owner + generation match. By default also clears the sending
   * marker (the provider answered without rotating). `keepSending: true`
   * leaves it (the outcome of a sent request is unknown: a timeout, a reset,
   * an unusable 2xx), so the next claimant learns of it.
   */
  releaseLease(key: LinkKey, lease: HeldLease, opts?: { keepSending?: boolean }): Promise<void>;
  /**
   * Resolves when another process announces a change to the key's row (a
   * commit, a failure, a released lease), or after `ms` at the latest.
   * Stores that can tell implement it (PostgreSQL: LISTEN/NOTIFY); without
   * it a waiter polls. Either way the waiter looks again when it resolves.
   */
  changed?(key: LinkKey, ms: number): Promise<void>;
    /** Deletes the link; returns what was stored (so tokens can be revoked). */
  delete(key: LinkKey): Promise<LinkRecord | undefined>;
  list(query: ListQuery): Promise<LinkMeta[]>;
  count(): Promise<number>;
  /** Links whose refresh failed for good (they need the user to link again): the links-by-state metric. */
  countNeedingRelink?(): Promise<number>;
  /** Closes the store this belongs to (the same as the store's own close). */
  close(): Promise<void>;
}
