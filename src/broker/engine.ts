import { randomBytes } from "node:crypto";
import { hostname } from "node:os";
import { setTimeout as sleep } from "node:timers/promises";
import type { ProviderConfig, RefreshSettings } from "../config/config.js";
import {
  domainError,
  fromOAuthError,
  linkNotFound,
  noRefreshToken,
  providerMisconfigured,
  providerUnavailable,
  reauthRecorded,
  reauthRequired,
  refreshedTokenRejected,
  type BrokerError,
} from "../errors.js";
import type { Logger } from "../log.js";
import { OAuthError, failureReason, refreshWithRetry, revokeTokens, validateToken, type TokenSet } from "../oauth/index.js";
import type { ProviderEntry, ProviderRegistry } from "../providers/registry.js";
import type { HeldLease, LeaseClaim, LinkKey, LinkRecord, LinkStore } from "../store/link-store.js";
import { isFresh, isUsable, isWinner } from "./freshness.js";
import { KeyedLock } from "./keyed-lock.js";
import { raceSignal } from "./race-signal.js";

export interface EngineOptions {
  store: LinkStore;
  providers: ProviderRegistry;
  settings: RefreshSettings;
  log: Logger;
  /** How long a process may hold a row's refresh lease; must outlast one whole refresh. */
  leaseTtlMs?: number;
  /** How often a process waiting on another's lease re-reads the row. */
  leasePollMs?: number;
  now?: () => number;
}

/** The most transient failures remembered per process (see #recentFailures). */
const MAX_REMEMBERED_FAILURES = 10_000;

/**
 * The refresh engine: hands out access tokens valid for at least the asked
 * time and refreshes them so that racing callers — in this process or in
 * others sharing the store — never replay a spent refresh token, never lose
 * a rotated one, and never blame the user for someone else's win.
 * docs/design.md §3 lists the invariants; each is marked below where it is kept.
 */
export class RefreshEngine {
  readonly #store: LinkStore;
  readonly #providers: ProviderRegistry;
  readonly #settings: RefreshSettings;
  readonly #log: Logger;
  readonly #locks = new KeyedLock();
  readonly #owner = `${hostname()}:${process.pid}:${randomBytes(4).toString("hex")}`;
  readonly #leaseTtlMs: number;
  readonly #leasePollMs: number;
  readonly #now: () => number;
  readonly #inFlight = new Set<Promise<unknown>>();
  readonly #lastRateLimitWarning = new Map<string, number>();
  /**
   * The last transient or rate-limited failure per key, until its retry-after
   * passes. Callers that queued behind the failed refresh get the same answer
   * instead of each running a full retry series against a provider that is
   * down.
   */
  readonly #recentFailures = new Map<string, { at: number; until: number; error: BrokerError }>();

  constructor(opts: EngineOptions) {
    this.#store = opts.store;
    this.#settings = opts.settings;
    this.#log = opts.log;
    this.#now = opts.now ?? Date.now;
    this.#leaseTtlMs = opts.leaseTtlMs ?? opts.settings.budgetMs + 2 * opts.settings.timeoutMs + 5_000;
    this.#leasePollMs = opts.leasePollMs ?? 25;
    this.#providers = opts.providers;
  }

  /** Per-key locks currently held or awaited (0 when idle). */
  get lockCount(): number {
    return this.#locks.size;
  }

  /**
   * A token valid for at least `minValidMs`. The caller's `signal` only stops
   * the caller from waiting: a refresh it started runs on and is committed.
   */
  async obtain(key: LinkKey, minValidMs: number, signal?: AbortSignal): Promise<LinkRecord> {
    const p = this.#providers.require(key.providerId);
    const seen = await this.#read(key);
    if (isFresh(seen, minValidMs, this.#now())) return seen;
    this.#refusePointlessRefresh(seen, p.config);
    const misconfigured = p.gate.misconfigured(this.#now());
    if (misconfigured !== undefined) throw providerMisconfigured(key.providerId, misconfigured.reason, misconfigured.retryAfterMs);

    // Invariant 3: the work is detached from the caller's lifetime.
    const arrived = this.#now();
    const work = this.#locks.run(lockKey(key), () => this.#refreshLocked(key, minValidMs, seen, arrived));
    this.#track(work);
    return raceSignal(work, signal);
  }

  /** Waits for every refresh in flight to commit (shutdown). */
  async drain(): Promise<void> {
    while (this.#inFlight.size > 0) await Promise.allSettled([...this.#inFlight]);
  }

  #track(p: Promise<unknown>): void {
    this.#inFlight.add(p);
    const done = (): void => {
      this.#inFlight.delete(p);
    };
    p.then(done, done);
  }

  async #read(key: LinkKey): Promise<LinkRecord> {
    let rec: LinkRecord | undefined;
    try {
      rec = await this.#store.get(key);
    } catch (err) {
      throw domainError(err, key);
    }
    if (rec === undefined) throw linkNotFound(key);
    return rec;
  }

  #refusePointlessRefresh(rec: LinkRecord, provider: ProviderConfig): void {
    if (rec.refreshToken !== null && !provider.noRefresh) return;
    // Invariant 5, the fast path: a recorded failure is final until re-link.
    if (rec.refreshFailure !== null) throw reauthRecorded(rec.refreshFailure);
    throw noRefreshToken();
  }

  async #refreshLocked(key: LinkKey, minValidMs: number, seen: LinkRecord, arrived: number): Promise<LinkRecord> {
    const p = this.#providers.require(key.providerId);
    const waitUntil = this.#now() + this.#leaseTtlMs + this.#settings.budgetMs;
    let discarded = false;
    for (;;) {
      // Invariant 2: after taking the lock, re-read.
      const current = await this.#read(key);
      const now = this.#now();
      if (isFresh(current, minValidMs, now)) return current;
      // Someone refreshed while we waited, and this is as fresh as the
      // provider makes tokens: take it rather than refresh again.
      if (current.version !== seen.version && current.lastRefreshedAt !== null && current.lastRefreshedAt >= seen.updatedAt && isUsable(current, now)) return current;
      this.#refusePointlessRefresh(current, p.config);
      const misconfigured = p.gate.misconfigured(now);
      if (misconfigured !== undefined) throw providerMisconfigured(key.providerId, misconfigured.reason, misconfigured.retryAfterMs);
      const recent = this.#recentFailures.get(lockKey(key));
      if (recent !== undefined && now < recent.until && recent.at >= arrived) throw recent.error;

      // Invariant 9 before invariant 1: queue for a provider slot first and
      // claim the lease only once we hold one, so time spent queueing never
      // eats into the lease (a lease that lapsed in the queue would let
      // another process present the same single-use refresh token).
      const releaseSlot = await p.gate.acquire();
      let pollMs = 0;
      let attempted = false;
      let refreshed: LinkRecord | undefined;
      try {
        const breaker = p.gate.misconfigured(this.#now());
        if (breaker !== undefined) throw providerMisconfigured(key.providerId, breaker.reason, breaker.retryAfterMs);
        // Invariant 1, across processes: claim the row's lease or wait for its holder.
        const claim = await this.#claim(key);
        if (!claim.claimed) {
          if ("missing" in claim) throw linkNotFound(key);
          if (this.#now() > waitUntil) throw providerUnavailable(key.providerId, "another process is still refreshing this link", 1000);
          // A lease released since we looked: claim again at once.
          if (claim.held !== null) pollMs = Math.min(this.#leasePollMs, Math.max(1, claim.held.until - this.#now()));
        } else if (isFresh(claim.record, minValidMs, this.#now()) || claim.record.refreshToken === null) {
          await this.#store.releaseLease(key, claim.lease);
        } else {
          attempted = true;
          refreshed = await this.#refreshWithLease(key, p, claim.record, claim.lease, releaseSlot);
        }
      } finally {
        releaseSlot();
      }
      if (pollMs > 0) await sleep(pollMs);
      if (!attempted) continue;
      if (refreshed !== undefined) return refreshed;
      // Our commit was discarded because another writer changed the row
      // (re-linked, unlinked, or cleared its refresh token). Its data wins:
      // judge the row afresh rather than hand out whatever is stored, which
      // may be a stale token of a link that now needs re-linking. Once only.
      if (discarded) throw providerUnavailable(key.providerId, "the link kept changing during the refresh", 1000);
      discarded = true;
    }
  }

  /**
   * Claims the row's lease when it is free, expired, or still ours (a
   * release that failed); the takeover is conditional on the holder we saw.
   */
  async #claim(key: LinkKey): Promise<LeaseClaim> {
    const claim = await this.#store.claimLease(key, this.#owner, this.#leaseTtlMs, this.#now(), null);
    if (claim.claimed || "missing" in claim || claim.held === null) return claim;
    const { held } = claim;
    if (held.until > this.#now() && held.owner !== this.#owner) return claim;
    return this.#store.claimLease(key, this.#owner, this.#leaseTtlMs, this.#now(), { owner: held.owner, generation: held.generation });
  }

  async #refreshWithLease(
    key: LinkKey,
    p: ProviderEntry,
    held: LinkRecord,
    lease: HeldLease,
    releaseSlot: () => void,
  ): Promise<LinkRecord | undefined> {
    const refreshToken = held.refreshToken as string;
    let leaseHeld = true;
    try {
      let tokens: TokenSet;
      try {
        try {
          tokens = await refreshWithRetry(p.config, refreshToken, {
            redirectUri: p.redirectUri,
            timeoutMs: this.#settings.timeoutMs,
            initialBackoffMs: this.#settings.initialBackoffMs,
            maxBackoffMs: this.#settings.maxBackoffMs,
            budgetMs: this.#settings.budgetMs,
            onAttempt: (attempt, err) =>
              this.#log.warn({ provider: key.providerId, attempt, kind: err.kind, status: err.status, error: err.error }, "refresh attempt failed"),
          });
        } finally {
          releaseSlot(); // the provider call is over: committing needs no slot
        }
      } catch (err) {
        if (!(err instanceof OAuthError)) throw err;
        return await this.#onRefreshError(key, p, refreshToken, err);
      }
      if (tokens.notes.length > 0) this.#log.warn({ provider: key.providerId, notes: tokens.notes }, "token response normalised");

      // Invariants 3 and 4: commit at once, conditional on what we read.
      const now = this.#now();
      const committed = await this.#store.commitRefresh(
        key,
        { version: held.version, refreshToken },
        {
          accessToken: tokens.accessToken,
          tokenType: tokens.tokenType,
          refreshToken: tokens.refreshToken,
          expiresAt: tokens.expiresInSec === undefined ? null : now + tokens.expiresInSec * 1000,
          extra: Object.keys(tokens.extra).length > 0 ? tokens.extra : undefined,
        },
        now,
      );
      leaseHeld = false;
      p.gate.markHealthy();
      this.#recentFailures.delete(lockKey(key));
      if (committed === undefined) {
        // The row changed under us (re-linked, unlinked or failed by another writer): its owner's data wins.
        this.#log.warn({ provider: key.providerId }, "refresh result discarded: the link changed during the refresh");
        if ((await this.#store.get(key).catch(() => null)) === undefined) this.#revokeOrphan(key, p.config, tokens);
        return undefined;
      }
      this.#log.info({ provider: key.providerId, rotated: tokens.refreshToken !== undefined, version: committed.version }, "token refreshed");
      // Invariant 10: the new refresh token is committed; the caller still has no token to use.
      if (tokens.accessToken === "") throw providerUnavailable(key.providerId, "the provider issued a new refresh token but no usable access token", 1000);
      await this.#validate(key, p, committed);
      return committed;
    } finally {
      if (leaseHeld) await this.#store.releaseLease(key, lease).catch(() => undefined);
    }
  }

  async #onRefreshError(
    key: LinkKey,
    p: ProviderEntry,
    refreshToken: string,
    err: OAuthError,
  ): Promise<LinkRecord> {
    const now = this.#now();
    const reason = failureReason(err, [refreshToken, p.config.clientSecret]);
    switch (err.kind) {
      case "client_credentials": {
        // Invariant 6: not the user's fault; keep their refresh token.
        const backoffMs = p.gate.markMisconfigured(reason, now);
        this.#log.error({ provider: key.providerId, error: err.error, status: err.status, backoffMs }, "provider rejected the client credentials");
        throw fromOAuthError(key.providerId, err, reason, { grant: "refresh", failedAt: now, retryAfterMs: backoffMs });
      }
      case "transient":
      case "rate_limited":
        throw this.#remember(key, fromOAuthError(key.providerId, err, reason, { grant: "refresh", failedAt: now }), now);
      case "unusable_answer":
        this.#log.error({ provider: key.providerId, status: err.status }, "token endpoint answered 2xx without usable tokens; not retried");
        throw this.#remember(key, fromOAuthError(key.providerId, err, reason, { grant: "refresh", failedAt: now }), now);
      case "permanent": {
        // Invariant 5: re-read before caching a failure.
        const current = await this.#store.get(key);
        if (isWinner(current, refreshToken, now)) {
          this.#log.info({ provider: key.providerId }, "refresh lost a race; using the winner's token");
          return current as LinkRecord;
        }
        const recorded = await this.#store.recordFailure(key, refreshToken, reason, now);
        if (recorded) {
          this.#log.warn({ provider: key.providerId, error: err.error, status: err.status }, "refresh token rejected; link needs re-authentication");
          throw reauthRequired(reason, now);
        }
        const after = await this.#store.get(key);
        if (isWinner(after, refreshToken, now)) return after as LinkRecord;
        if (after?.refreshFailure) throw reauthRequired(after.refreshFailure.reason, after.refreshFailure.failedAt);
        if (after === undefined) throw linkNotFound(key);
        throw reauthRequired(reason, now);
      }
    }
  }

  /**
   * Tokens issued for a link that was unlinked while the refresh was in
   * flight (possibly by another process) belong to no one: revoke them.
   */
  #revokeOrphan(key: LinkKey, provider: ProviderConfig, tokens: TokenSet): void {
    const work = revokeTokens(provider, {
      ...(tokens.refreshToken !== undefined ? { refreshToken: tokens.refreshToken } : {}),
      accessToken: tokens.accessToken,
      timeoutMs: this.#settings.timeoutMs,
    }).then((r) => this.#log.info({ provider: key.providerId, revoked: r.revoked }, "revoked tokens refreshed for an unlinked link"));
    this.#track(work);
  }

  /** Runs `work` holding the key's refresh lock: no refresh of this process overlaps it. */
  exclusive<T>(key: LinkKey, work: () => Promise<T>): Promise<T> {
    return this.#locks.run(lockKey(key), work);
  }

  #remember(key: LinkKey, error: BrokerError, now: number): BrokerError {
    if (this.#recentFailures.size >= MAX_REMEMBERED_FAILURES) {
      for (const [k, f] of this.#recentFailures) if (f.until <= now) this.#recentFailures.delete(k);
    }
    if (this.#recentFailures.size < MAX_REMEMBERED_FAILURES) {
      this.#recentFailures.set(lockKey(key), { at: now, until: now + (error.detail.retryAfterMs ?? 1000), error });
    }
    return error;
  }

  /** Invariant 8: validate after a refresh only; never discard what was persisted. */
  async #validate(key: LinkKey, p: ProviderEntry, rec: LinkRecord): Promise<void> {
    const url = p.config.validateUrl;
    if (!this.#settings.validate || url === undefined) return;
    const result = await validateToken(url, rec.accessToken, { timeoutMs: this.#settings.timeoutMs, quirks: p.config.quirks });
    switch (result.outcome) {
      case "valid":
      case "unknown":
        return;
      case "rate_limited": {
        const last = this.#lastRateLimitWarning.get(key.providerId) ?? 0;
        if (this.#now() - last >= 60_000) {
          this.#lastRateLimitWarning.set(key.providerId, this.#now());
          this.#log.warn({ provider: key.providerId, status: result.status }, "validation rate limited; treating the refreshed token as valid");
        }
        return;
      }
      case "invalid":
        this.#log.warn({ provider: key.providerId, status: result.status }, "the provider rejected a freshly refreshed token");
        throw refreshedTokenRejected(result.status, this.#now());
    }
  }
}

export function lockKey(key: LinkKey): string {
  return `${key.providerId}\u0000${key.userId}`;
}
