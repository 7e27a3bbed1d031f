import type { RefreshSettings } from "../config/config.js";
import {
  BrokerError,
  Reason,
  fromOAuthError,
  linkNotFound,
  minValidityUnreachable as minValidityUnreachableError,
  providerMisconfigured,
  reauthRecorded,
  reauthRequired,
  storeUnavailable,
} from "../errors.js";
import { noteProviderContacted } from "../audit/call-scope.js";
import type { Logger } from "../log.js";
import { OAuthError, boundFailureReason, failureReason, refreshWithRetry, type TokenSet } from "../oauth/index.js";
import type { ProviderEntry } from "../providers/registry.js";
import { StoreUnavailableError } from "../store/store-errors.js";
import type { HeldLease, InterruptedRefresh, LinkKey, LinkRecord, LinkStore, NewTokens } from "../store/link-store.js";
import type { Clock } from "./clock.js";
import type { Random } from "./random.js";
import type { TokenEndpoint } from "./token-endpoint.js";
import type { EngineEvents, RefreshOutcome } from "./engine-events.js";
import { isFresh, isWinner, minValidityUnreachable } from "./freshness.js";
import { LeaseKeeper } from "./lease-keeper.js";
import { describeOwner, livenessOf, type OwnerIdentity, type ProcessProbe } from "./lease-owner.js";
import { decideLease, withinGrace, type ClaimReason } from "./lease-policy.js";
import type { PendingCommits } from "./pending-commits.js";
import type { RecentFailures } from "./recent-failures.js";
import { lockKey } from "./lock-key.js";
import type { Validator } from "./validator.js";

/** What one attempt came to. Final answers for the caller are thrown as BrokerError. */
export type Outcome =
  /** The token to hand out. */
  | { kind: "done"; record: LinkRecord }
  /** Another process holds the lease: look again after `ms`. */
  | { kind: "wait"; ms: number }
  /** The row changed under this attempt (or its lease was lost): judge it afresh. */
  | { kind: "changed" };

export interface RefresherOptions {
  store: LinkStore;
  settings: RefreshSettings;
  log: Logger;
  clock: Clock;
  random: Random;
  endpoint: TokenEndpoint;
  identity: OwnerIdentity;
  owner: string;
  probe: ProcessProbe;
  leaseTtlMs: number;
  leasePollMs: number;
  pending: PendingCommits;
  failures: RecentFailures;
  validator: Validator;
  events: EngineEvents;
  /** Tokens issued for a link deleted meanwhile belong to no one. */
  revokeOrphan: (key: LinkKey, provider: ProviderEntry, tokens: TokenSet) => void;
}

/** Thrown by the lease gate before a send: this process no longer holds the lease. */
class LeaseLost extends Error {
  override readonly name = "LeaseLost";
}

/**
 * One refresh attempt for one key, under the key's in-process lock: take a
 * provider slot, claim the row's lease (or learn whom to wait for), send the
 * refresh token under a confirmed lease, and commit what the provider
 * answered before anything else happens to it.
 */
export class Refresher {
  constructor(private readonly o: RefresherOptions) {}

  async attempt(key: LinkKey, provider: ProviderEntry, minValidMs: number): Promise<Outcome> {
    const o = this.o;
    // Invariant 9: queue for a provider slot first and claim the lease only
    // once holding one, so time spent queueing never eats into the lease.
    const slot = await provider.gate.acquire();
    let held: HeldLease | undefined;
    try {
      // Invariant 6: while the provider rejects our client credentials, no
      // user's refresh is attempted. Checked here, where every path to the
      // provider passes, after the wait for a slot (the breaker may have
      // opened meanwhile).
      const open = provider.gate.misconfigured(o.clock.now());
      if (open !== undefined) throw providerMisconfigured(key.providerId, open.reason, open.retryAfterMs);

      // Invariants 1 and 14: claim the lease, or wait for its holder.
      const state = await o.store.readLease(key);
      if (state === undefined) throw linkNotFound(key);
      const decision = decideLease(state, {
        now: o.clock.now(),
        liveness: (owner) => livenessOf(owner, o.identity, o.probe),
        rotationGraceMs: provider.config.rotationGraceMs ?? 0,
        pollMs: o.leasePollMs,
      });
      if (decision.action === "wait") return { kind: "wait", ms: decision.ms };
      const claim = await o.store.claimLease(key, o.owner, o.leaseTtlMs, o.clock.now(), decision.expect);
      if (!claim.claimed) {
        if ("missing" in claim) throw linkNotFound(key);
        // Lost the race for it; released meanwhile (held: null): look again at once.
        return { kind: "wait", ms: claim.held === null ? 0 : o.leasePollMs };
      }
      held = claim.lease;
      const record = claim.record;
      if (decision.why !== "free") o.log.info({ provider: key.providerId, user: key.userId, why: decision.why }, "took over a refresh lease");
      // Invariant 2 again: the claimed row is the latest; someone may have finished meanwhile.
      if (record.refreshToken === null || isFresh(record, minValidMs, o.clock.now())) return { kind: "changed" };

      const interrupted = claim.interrupted !== undefined && claim.interrupted.by !== o.owner ? claim.interrupted : undefined;
      if (interrupted !== undefined && !withinGrace(interrupted.at, provider.config.rotationGraceMs ?? 0, o.clock.now())) {
        return await this.#failInterrupted(key, record, interrupted, decision.why);
      }

      // Invariants 11 and 15: every request under a confirmed lease.
      const keeper = new LeaseKeeper(o.store, key, claim.lease, record.version, o.leaseTtlMs, o.clock, o.log).start();
      // An attempt that may have reached the provider without an answer (a
      // timeout, a reset): if a retry is then refused, that attempt probably
      // spent the token, and the failure reason says so.
      let unanswered = false;
      // From the first send: the refresh's duration, and each token-endpoint request's.
      let began: number | undefined;
      let sentAt: number | undefined;
      const answered = (): void => {
        if (sentAt !== undefined) o.events.tokenEndpoint(key.providerId, (performance.now() - sentAt) / 1000);
        sentAt = undefined;
      };
      let tokens: TokenSet;
      try {
        tokens = await refreshWithRetry(provider.config, record.refreshToken, {
          send: (token, grant) => o.endpoint.refresh(provider, token, { timeoutMs: grant.timeoutMs, now: o.clock.now }),
          random: o.random,
          timeoutMs: o.settings.timeoutMs,
          initialBackoffMs: o.settings.initialBackoffMs,
          maxBackoffMs: o.settings.maxBackoffMs,
          budgetMs: o.settings.budgetMs,
          sleep: o.clock.sleep,
          now: o.clock.now,
          beforeAttempt: async () => {
            if (!(await keeper.confirmSending())) throw new LeaseLost();
            noteProviderContacted();
            sentAt = performance.now();
            began ??= sentAt;
          },
          onAttempt: (attempt, err) => {
            answered();
            if (err.sent === "unknown") unanswered = true;
            o.log.warn({ provider: key.providerId, user: key.userId, attempt, kind: err.kind, sent: err.sent, status: err.status, error: err.error }, "refresh attempt failed");
          },
        });
        answered();
      } catch (err) {
        const ended = (outcome: RefreshOutcome): void => {
          if (began !== undefined) o.events.refreshed(key, outcome, performance.now() - began);
        };
        if (err instanceof LeaseLost) {
          o.log.warn({ provider: key.providerId, user: key.userId }, "refresh lease lost; sending nothing more and reading the link again");
          ended("DISCARDED");
          return { kind: "changed" };
        }
        if (err instanceof StoreUnavailableError) throw storeUnavailable(err); // the lease could not be confirmed: nothing was sent
        if (!(err instanceof OAuthError)) throw err;
        try {
          const outcome = await this.#onProviderError(key, provider, record.refreshToken, err, interrupted, unanswered && err.sent === "answered");
          ended(outcome.kind === "done" ? "OK" : "DISCARDED");
          return outcome;
        } catch (answer) {
          ended(answer instanceof BrokerError ? answer.reason : Reason.INTERNAL);
          throw answer;
        }
      } finally {
        keeper.stop();
        slot(); // the provider call is over: committing needs no slot
      }
      const outcome = await this.#commit(key, provider, record, claim.lease, tokens, minValidMs, began ?? performance.now());
      if (outcome.kind === "held") {
        held = undefined; // PendingCommits keeps it renewed until its commit lands
        return { kind: "done", record: outcome.record };
      }
      return outcome;
    } finally {
      slot();
      // Conditional on owner and generation: a no-op once a commit or a
      // recorded failure cleared it, or another process claimed it.
      if (held !== undefined) await o.store.releaseLease(key, held).catch(() => undefined);
    }
  }

  /**
   * Invariants 3, 4, 10 and 12: commit at once, conditional on what was read;
   * a storage fault hands the tokens to PendingCommits instead of losing them.
   */
  async #commit(
    key: LinkKey,
    provider: ProviderEntry,
    held: LinkRecord,
    lease: HeldLease,
    tokens: TokenSet,
    minValidMs: number,
    began: number,
  ): Promise<Outcome | { kind: "held"; record: LinkRecord }> {
    const o = this.o;
    const now = o.clock.now();
    if (tokens.notes.length > 0) o.log.warn({ provider: key.providerId, user: key.userId, notes: tokens.notes }, "token response normalised");
    const next: NewTokens = {
      accessToken: tokens.accessToken,
      tokenType: tokens.tokenType,
      refreshToken: tokens.refreshToken,
      // An unusable access token is stored as already expired, so the next call refreshes with the new refresh token.
      expiresAt: tokens.accessToken === "" ? now : tokens.expiresInSec === undefined ? null : now + tokens.expiresInSec * 1000,
      extra: Object.keys(tokens.extra).length > 0 ? tokens.extra : undefined,
    };
    const expect = { version: held.version, refreshToken: held.refreshToken as string };
    const commitOnce = async (): Promise<LinkRecord | undefined> => {
      // Every attempt writes the answer's time: last_refreshed_at is when the
      // provider issued, so the issued lifetime stays exact (invariant 16).
      const committed = await o.store.commitRefresh(key, expect, next, now);
      if (committed !== undefined) return committed;
      // A commit that failed with an I/O error may still have reached the
      // disk; its retry then finds the row changed — by itself.
      const row = await o.store.get(key);
      return row !== undefined && holds(row, next) ? row : undefined;
    };
    provider.gate.markHealthy();
    o.failures.forget(lockKey(key));

    let committed: LinkRecord | undefined;
    try {
      committed = await commitOnce();
    } catch (err) {
      if (!(err instanceof StoreUnavailableError)) throw err;
      const renew = (): Promise<unknown> => o.store.confirmLease(key, lease, held.version, o.leaseTtlMs, o.clock.now());
      const pending = o.pending.hold(lockKey(key), key, asCommitted(held, next, now), commitOnce, err, renew);
      void pending.settled.then(
        async (c) => {
          if (c !== undefined) return;
          await o.store.releaseLease(key, lease).catch(() => undefined);
          await this.#onDiscarded(key, provider, tokens);
        },
        () => o.store.releaseLease(key, lease).catch(() => undefined),
      );
      o.events.refreshed(key, "OK", performance.now() - began);
      // Callers meanwhile get the new access token from memory (it is valid), or a clear "come back".
      if (tokens.accessToken === "") throw storeUnavailable(err);
      return { kind: "held", record: pending.record };
    }
    if (committed === undefined) {
      o.events.refreshed(key, "DISCARDED", performance.now() - began);
      await this.#onDiscarded(key, provider, tokens);
      return { kind: "changed" };
    }
    o.log.info({ provider: key.providerId, user: key.userId, rotated: tokens.refreshToken !== undefined, version: committed.version }, "token refreshed");
    o.events.refreshed(key, "OK", performance.now() - began);
    if (tokens.accessToken === "") {
      throw new BrokerError(Reason.PROVIDER_UNAVAILABLE, `provider ${JSON.stringify(key.providerId)} answered a refresh without an access token; its new refresh token is stored, so try again`, {
        retryAfterMs: 0,
        metadata: { provider_id: key.providerId },
      });
    }
    await o.validator.validate(key, provider, committed);
    const lifetime = minValidityUnreachable(committed, minValidMs, o.clock.now());
    if (lifetime !== undefined) throw minValidityUnreachableError(key.providerId, lifetime, minValidMs);
    return { kind: "done", record: committed };
  }

  /** The row changed under the refresh (re-linked, unlinked, failed by another writer): its data wins. */
  async #onDiscarded(key: LinkKey, provider: ProviderEntry, tokens: TokenSet): Promise<void> {
    this.o.log.warn({ provider: key.providerId, user: key.userId }, "refresh result discarded: the link changed during the refresh");
    const now = await this.o.store.get(key).catch(() => null);
    if (now === undefined) this.o.revokeOrphan(key, provider, tokens);
  }

  async #onProviderError(
    key: LinkKey,
    provider: ProviderEntry,
    refreshToken: string,
    err: OAuthError,
    interrupted: InterruptedRefresh | undefined,
    afterUnanswered: boolean,
  ): Promise<Outcome> {
    const o = this.o;
    const now = o.clock.now();
    let reason = failureReason(err, [refreshToken, provider.config.clientSecret]);
    switch (err.kind) {
      case "client_credentials": {
        // Invariant 6: not the user's fault; their refresh token is kept.
        const backoffMs = provider.gate.markMisconfigured(reason, now);
        o.log.error({ provider: key.providerId, error: err.error, status: err.status, backoffMs }, "provider rejected the client credentials");
        throw fromOAuthError(key.providerId, err, reason, { grant: "refresh", failedAt: now, retryAfterMs: backoffMs });
      }
      case "unusable_answer": {
        // A 2xx means the provider took the request and may have rotated the
        // refresh token; its answer is lost (no tokens, cut off, stalled).
        // Sending the stored token again could be a replay (invariants 10 and
        // 14): outside a reuse grace window the link is failed and says why.
        o.log.warn({ provider: key.providerId, user: key.userId, status: err.status }, "the provider answered a refresh with a 2xx that held no usable tokens");
        if (provider.config.rotationGraceMs > 0) {
          throw o.failures.remember(lockKey(key), fromOAuthError(key.providerId, err, reason, { grant: "refresh", failedAt: now }), now);
        }
        const lost = boundFailureReason(`${reason}; the provider may have rotated the refresh token, so it was not sent again`);
        if (await o.store.recordFailure(key, refreshToken, lost, now)) throw this.#recorded(key, reauthRequired(lost, now), true);
        const after = await o.store.get(key);
        if (isWinner(after, refreshToken, now)) return { kind: "done", record: after as LinkRecord };
        if (after?.refreshFailure) throw reauthRecorded(after.refreshFailure);
        return { kind: "changed" };
      }
      case "transient":
      case "rate_limited":
        // Invariant 7: retried already, within the budget; never cached as permanent.
        throw o.failures.remember(lockKey(key), fromOAuthError(key.providerId, err, reason, { grant: "refresh", failedAt: now }), now);
      case "permanent": {
        if (interrupted !== undefined) reason = boundFailureReason(`${interruptionText(interrupted, "grace")}; sent again inside the provider's reuse grace window and refused: ${reason}`);
        else if (afterUnanswered) reason = boundFailureReason(`an earlier attempt of this refresh got no answer and may have rotated the refresh token; the retry was refused: ${reason}`);
        // Invariant 5: re-read before caching a failure.
        const current = await o.store.get(key);
        if (isWinner(current, refreshToken, now)) {
          o.log.info({ provider: key.providerId, user: key.userId }, "refresh lost a race; using the winner's token");
          return { kind: "done", record: current as LinkRecord };
        }
        if (await o.store.recordFailure(key, refreshToken, reason, now)) {
          o.log.warn({ provider: key.providerId, user: key.userId, error: err.error, status: err.status }, "refresh token rejected; link needs re-authentication");
          throw this.#recorded(key, reauthRequired(reason, now), true);
        }
        const after = await o.store.get(key);
        if (isWinner(after, refreshToken, now)) return { kind: "done", record: after as LinkRecord };
        if (after === undefined) throw linkNotFound(key);
        if (after.refreshFailure !== null) throw reauthRecorded(after.refreshFailure);
        // Another writer replaced the tokens with some that are no win (no
        // refresh token, or an access token already expired): its data stays
        // as written, and this caller learns that its refresh was refused.
        throw reauthRequired(reason, now);
      }
    }
  }

  /**
   * Invariant 14: a refresh token that a holder sent and never finished with
   * may have been rotated by the provider; sending it again would be a replay
   * (a reuse-detecting provider then revokes the whole grant). Outside the
   * provider's grace window the link is failed with a reason that says what
   * happened.
   */
  async #failInterrupted(key: LinkKey, record: LinkRecord, interrupted: InterruptedRefresh, why: ClaimReason): Promise<Outcome> {
    const o = this.o;
    const now = o.clock.now();
    const reason = boundFailureReason(`${interruptionText(interrupted, why)}; the provider may have rotated the refresh token, so it was not sent again`);
    o.log.warn({ provider: key.providerId, user: key.userId, by: describeOwner(interrupted.by), sentAt: new Date(interrupted.at).toISOString() }, "an interrupted refresh cannot be retried safely; link needs re-authentication");
    if (await o.store.recordFailure(key, record.refreshToken as string, reason, now)) throw this.#recorded(key, reauthRequired(reason, now), false);
    return { kind: "changed" };
  }

  /** A failure now stored on the link, reported before it is thrown. */
  #recorded(key: LinkKey, err: BrokerError, answered: boolean): BrokerError {
    this.o.events.failureRecorded(key, err.reason, answered);
    return err;
  }
}

function interruptionText(i: InterruptedRefresh, why: ClaimReason | "grace"): string {
  const how = why === "holder-dead" ? "when that process died" : why === "grace" ? "" : "when that process stopped renewing its lease";
  return `a refresh sent at ${new Date(i.at).toISOString()} by ${describeOwner(i.by)} was interrupted${how === "" ? "" : ` ${how}`}`;
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
    refreshFailure: null,
    updatedAt: now,
    lastRefreshedAt: now,
  };
}
