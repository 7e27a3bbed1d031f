import type { CallScope } from "../audit/call-scope.js";
import { BrokerError, Reason, minValidityUnreachable as minValidityUnreachableError, storeUnavailable } from "../errors/index.js";
import { grantedScopesOf, type TokenSet } from "../oauth/index.js";
import type { ProviderEntry } from "../providers/index.js";
import { StoreUnavailableError } from "../store/store-errors.js";
import { linkKeyId, type HeldLease, type LinkKey, type LinkRecord, type NewTokens } from "../store/link-store.js";
import { isFresh, minValidityUnreachable } from "./freshness.js";
import type { RefreshDeps } from "./refresh-deps.js";

/** How committing an answer ended. */
export type CommitOutcome =
  /** Stored: the record to hand out. */
  | { kind: "done"; record: LinkRecord }
  /**
   * The store failed; PendingCommits holds the tokens (and the lease, which
   * it renews) and keeps trying. The record is what callers get meanwhile,
   * or `answer` when it will not do for this caller.
   */
  | { kind: "held"; record: LinkRecord; answer?: BrokerError }
  /** The row changed under the refresh (re-linked, unlinked, superseded): judge afresh. */
  | { kind: "changed" };

export interface Answer {
  key: LinkKey;
  provider: ProviderEntry;
  /** The row as claimed: its version and the refresh token that was sent. */
  held: LinkRecord;
  lease: HeldLease;
  tokens: TokenSet;
  minValidMs: number;
  /** When the answered request was sent (engine clock): the token's lifetime counts from there. */
  sentAt: number;
  /** performance.now() at the first send, for the refresh's duration. */
  began: number;
  /** The lease was lost while the answer was awaited (another process judged it expired). */
  leaseLost: boolean;
  /** The call the refresh was for (audit/call-scope.ts); undefined for a refresh ahead of expiry. */
  cause: CallScope | undefined;
}

/**
 * Invariants 3, 4, 10 and 12: commit the provider's answer at once,
 * conditional on what was sent; a storage fault hands the tokens to
 * PendingCommits instead of losing them. The store takes the answer even
 * after the lease was lost or the link was failed for this very send (an
 * answer heals); only a later rotation or a re-link refuses it.
 */
export async function commitAnswer(deps: RefreshDeps, answer: Answer): Promise<CommitOutcome> {
  const { key, provider, held, tokens, cause } = answer;
  if (tokens.notes.length > 0) deps.log.warn({ provider: key.providerId, user: key.userId, notes: tokens.notes }, "token response normalised");
  // Lifetimes count from the send, not the answer: an answer that took
  // minutes to arrive carries a token that much older. last_refreshed_at is
  // when the answer was stored, so expires_at - last_refreshed_at is the
  // lifetime this daemon actually got (invariant 16 reads it).
  const issuedAt = answer.sentAt;
  const storedAt = Math.max(issuedAt, deps.clock.now());
  const next: NewTokens = {
    accessToken: tokens.accessToken,
    tokenType: tokens.tokenType,
    refreshToken: tokens.refreshToken,
    // An unusable access token is stored as already expired, so the next call refreshes with the new refresh token.
    expiresAt: tokens.accessToken === "" ? issuedAt : tokens.expiresInSec === undefined ? null : issuedAt + tokens.expiresInSec * 1000,
    extra: Object.keys(tokens.extra).length > 0 ? tokens.extra : undefined,
    // RFC 6749 §6: an answer without `scope` granted what was granted before (kept); the account is kept.
    grantedScopes: grantedScopesOf(tokens.scope),
  };
  const expect = { version: held.version, refreshToken: held.refreshToken as string };
  const commitOnce = async (): Promise<LinkRecord | undefined> => {
    const committed = await deps.store.commitRefresh(key, expect, next, storedAt);
    if (committed !== undefined) return committed;
    // A commit that failed with an I/O error may still have reached the
    // disk; its retry then finds the row changed — by itself.
    const row = await deps.store.get(key);
    return row !== undefined && holds(row, next) ? row : undefined;
  };
  provider.gate.markHealthy();
  deps.failures.forget(linkKeyId(key));

  let committed: LinkRecord | undefined;
  try {
    committed = await commitOnce();
  } catch (err) {
    if (!(err instanceof StoreUnavailableError)) throw err;
    const renew = (): Promise<unknown> => deps.store.confirmLease(key, answer.lease, held.version, deps.leaseTtlMs);
    const pending = deps.pending.hold(linkKeyId(key), key, asCommitted(held, next, storedAt), commitOnce, err, renew);
    void pending.settled.then(
      async (current) => {
        if (current === undefined) {
          await deps.store.releaseLease(key, answer.lease).catch(() => undefined);
          await onDiscarded(deps, key, provider, tokens);
        } else if (current.version > held.version + 1) {
          healed(deps, key, cause);
        }
      },
      () => deps.store.releaseLease(key, answer.lease).catch(() => undefined),
    );
    deps.events.refreshed(key, "OK", performance.now() - answer.began, cause);
    // Callers meanwhile get the new access token from memory (it is valid), or a clear "come back"
    // when it is unusable or — the store having stalled before it failed — too short for them.
    const usable = tokens.accessToken !== "" && isFresh(pending.record, answer.minValidMs, deps.clock.now());
    return { kind: "held", record: pending.record, ...(usable ? {} : { answer: storeUnavailable(err) }) };
  }
  if (committed === undefined) {
    deps.events.refreshed(key, "DISCARDED", performance.now() - answer.began, cause);
    await onDiscarded(deps, key, provider, tokens);
    return { kind: "changed" };
  }
  deps.log.info({ provider: key.providerId, user: key.userId, rotated: tokens.refreshToken !== undefined, version: committed.version }, "token refreshed");
  deps.events.refreshed(key, "OK", performance.now() - answer.began, cause);
  // Someone else wrote between the claim and this commit (a failure recorded for this send), or
  // judged this holder gone: the answer repaired what they saw as an interrupted refresh.
  if (answer.leaseLost || committed.version > held.version + 1) healed(deps, key, cause);
  if (tokens.accessToken === "") {
    throw new BrokerError(Reason.PROVIDER_UNAVAILABLE, `provider ${JSON.stringify(key.providerId)} answered a refresh without an access token; its new refresh token is stored, so try again`, {
      retryAfterMs: 0,
      metadata: { provider_id: key.providerId },
    });
  }
  await deps.validator.validate(key, provider, committed, cause);
  const now = deps.clock.now();
  const lifetime = minValidityUnreachable(committed, answer.minValidMs, now);
  if (lifetime !== undefined) throw minValidityUnreachableError(key.providerId, lifetime, answer.minValidMs);
  // A token that left the provider a moment too short for the caller (a slow answer) is not
  // handed out as if it were enough; the next call judges it afresh.
  if (!isFresh(committed, answer.minValidMs, now)) throw minValidityUnreachableError(key.providerId, Math.max(0, (committed.expiresAt ?? now) - now), answer.minValidMs);
  return { kind: "done", record: committed };
}

function healed(deps: RefreshDeps, key: LinkKey, cause: CallScope | undefined): void {
  deps.log.info({ provider: key.providerId, user: key.userId }, "a refresh answer that arrived after its lease was taken or its link was failed was stored: the link is healed");
  deps.events.healed(key, cause);
}

/** The row changed under the refresh (re-linked, unlinked, failed by another writer): its data wins. */
async function onDiscarded(deps: RefreshDeps, key: LinkKey, provider: ProviderEntry, tokens: TokenSet): Promise<void> {
  deps.log.warn({ provider: key.providerId, user: key.userId }, "refresh result discarded: the link changed during the refresh");
  const now = await deps.store.get(key).catch(() => null);
  if (now === undefined) deps.revokeOrphan(key, provider, tokens);
}

/** Whether `row` holds what `next` would have written. */
function holds(row: LinkRecord, next: NewTokens): boolean {
  if (next.refreshToken !== undefined) return row.refreshToken === next.refreshToken;
  return next.accessToken !== "" && row.accessToken === next.accessToken;
}

/** The record a pending commit will produce, for serving it from memory meanwhile. */
function asCommitted(held: LinkRecord, next: NewTokens, now: number): LinkRecord {
  return {
    ...held,
    version: held.version + 1,
    accessToken: next.accessToken,
    tokenType: next.tokenType,
    refreshToken: next.refreshToken ?? held.refreshToken,
    expiresAt: next.expiresAt,
    extra: next.extra ?? held.extra,
    grantedScopes: next.grantedScopes ?? held.grantedScopes,
    refreshFailure: null,
    updatedAt: now,
    lastRefreshedAt: now,
  };
}
