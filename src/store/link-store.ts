/**
 * LinkStore is what the refresh engine and the RPC layer need from storage.
 * It is async so a networked store (PostgreSQL) can implement it the same way
 * as the embedded SQLite one. All times are epoch milliseconds.
 *
 * Values are plaintext at this interface; implementations seal every secret
 * column through a Sealer (crypto/sealer.ts) and store NULL for empty ones.
 */

export interface LinkKey {
  providerId: string;
  userId: string;
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
  lease: { owner: string; until: number } | null;
  /** Incremented on every successful lease claim. */
  generation: number;
  createdAt: number;
  updatedAt: number;
  lastRefreshedAt: number | null;
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
}

export interface NewTokens {
  accessToken: string;
  tokenType: string;
  /** undefined keeps the stored refresh token (the provider did not rotate it). */
  refreshToken?: string | undefined;
  expiresAt: number | null;
  /** undefined keeps the stored extra. */
  extra?: Record<string, string> | undefined;
}

/** A complete set of tokens, as ImportLink or a code exchange stores them. */
export type StoredTokens = Omit<NewTokens, "refreshToken" | "extra"> & { refreshToken: string | null; extra: Record<string, string> };

export interface CasExpectation {
  /** The version read before the refresh. */
  version: number;
  /** The refresh token that was sent to the provider. */
  refreshToken: string;
}

export type LeaseClaim =
  | { claimed: true; generation: number; record: LinkRecord }
  | { claimed: false; owner: string; until: number }
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
  /** Creates or replaces a link's tokens (import, code exchange); clears any failure. */
  put(key: LinkKey, tokens: StoredTokens, now: number): Promise<LinkRecord>;
  /**
   * Commits a refresh result iff the row still has `expect.version` and still
   * holds `expect.refreshToken`; also clears any lease and failure and sets
   * last_refreshed_at. Durable (synchronous=FULL) before it resolves.
   * Returns undefined (and changes nothing) when the expectation fails.
   */
  commitRefresh(key: LinkKey, expect: CasExpectation, tokens: NewTokens, now: number): Promise<LinkRecord | undefined>;
  /**
   * Records a permanent refresh failure iff `refreshToken` is still the stored
   * one: clears the refresh token (NULL), stores the reason, releases the lease.
   * Returns false (and changes nothing) otherwise.
   */
  recordFailure(key: LinkKey, refreshToken: string, reason: string, now: number): Promise<boolean>;
  /** Claims the cross-process refresh lease if it is free or expired. */
  claimLease(key: LinkKey, owner: string, ttlMs: number, now: number): Promise<LeaseClaim>;
  /** Releases the lease iff `owner` still holds it with `generation`. */
  releaseLease(key: LinkKey, owner: string, generation: number): Promise<void>;
  /** Deletes the link; returns what was stored (so tokens can be revoked). */
  delete(key: LinkKey): Promise<LinkRecord | undefined>;
  list(query: ListQuery): Promise<LinkMeta[]>;
  count(): Promise<number>;
  close(): Promise<void>;
}
