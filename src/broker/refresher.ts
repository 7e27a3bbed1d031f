import { BrokerError, Reason, linkNotFound, providerMisconfigured, refreshInterrupted, storeUnavailable } from "../errors/index.js";
import { noteProviderContacted, type CallScope } from "../audit/call-scope.js";
import { OAuthError, refreshWithRetry, type TokenSet } from "../oauth/index.js";
import type { ProviderEntry } from "../providers/index.js";
import { StoreUnavailableError } from "../store/store-errors.js";
import { linkKeyId, type HeldLease, type InterruptedRefresh, type LinkKey, type LinkRecord } from "../store/link-store.js";
import type { RefreshOutcome } from "./engine-events.js";
import { satisfies, type Want } from "./ahead.js";
import { LeaseKeeper } from "./lease-keeper.js";
import { describeOwner, livenessOf } from "./lease-owner.js";
import { decideInterrupted, decideLease, type ClaimReason } from "./lease-policy.js";
import { failInterrupted, onProviderError } from "./provider-failure.js";
import { commitAnswer } from "./refresh-commit.js";
import type { RefreshDeps } from "./refresh-deps.js";
import { isRejected, type TokenWish } from "./rejected-token.js";


/** What one attempt came to. Final answers for the caller are thrown as BrokerError. */
export type Outcome =
  /** The token to hand out. */
  | { kind: "done"; record: LinkRecord }
  /** Another process holds the lease: look again after `ms`. */
  | { kind: "wait"; ms: number }
  /** The row changed under this attempt (or its lease was lost): judge it afresh. */
  | { kind: "changed" };

/** The longest retry delay an interrupted link gives its callers. */
const INTERRUPTED_RETRY_MS = 5_000;
/** Known outcomes remembered per process (bounded: an outage across many keys must not grow memory without limit). */
const MAX_REMEMBERED_OUTCOMES = 10_000;
/** Background releases retry at most this far apart. */
const RELEASE_RETRY_MAX_MS = 1_000;

/** How a claim step ended: the lease and the row as claimed, or an outcome for the engine. */
type Claimed = { kind: "claimed"; lease: HeldLease; record: LinkRecord; interrupted?: InterruptedRefresh; now: number; why: ClaimReason } | Outcome;

/** How a send step ended. */
type Sent =
  /** The provider answered with tokens. */
  | { kind: "tokens"; tokens: TokenSet; sentAt: number; began: number; leaseLost: boolean }
  /** The provider refused, or nothing was sent: the outcome is known; nothing was rotated. */
  | { kind: "refused"; err: OAuthError; began: number | undefined }
  /** A request was written and its answer never seen: the provider may have rotated. */
  | { kind: "unknown"; err: OAuthError; sentAt: number; began: number }
  /** The lease was lost before a send: nothing more was sent. */
  | { kind: "lease-lost"; began: number | undefined };

/** Thrown by the lease gate before a send: this process no longer holds the lease. */
class LeaseLost extends Error {
  override readonly name = "LeaseLost";
}

/**
 * One refresh attempt for one key, under the key's in-process lock, in three
 * steps: claim the row's lease (or learn whom to wait for), send the refresh
 * token under a confirmed lease, commit what the provider answered before
 * anything else happens to it. The provider slot and the lease are given back
 * on every path (the finally below is their one release).
 */
export class Refresher {
  /**
   * Sends of this process whose outcome it knows left the token unrotated
   * (the provider answered an error) but whose record on the row it could not
   * clear (the store failed): by key, the refresh token sent. Its own next
   * claim then knows the record is no interruption (invariant 7).
   */
  readonly #answered = new Map<string, string>();
  /**
   * Background clears of this process's own send records still pending, by
   * key. A newer send of the key supersedes the entry: the record on the row
   * is then that send's, whose outcome may be unknown, and is not cleared.
   */
  readonly #clearing = new Map<string, symbol>();

  constructor(private readonly deps: RefreshDeps) {}

  /** `cause`: the call this refresh is for (undefined: a refresh ahead of expiry), named by its audit lines. */
  async attempt(key: LinkKey, provider: ProviderEntry, want: Want, cause: CallScope | undefined): Promise<Outcome> {
    const deps = this.deps;
    // Invariant 9: queue for a provider slot first and claim the lease only
    // once holding one, so time spent queueing never eats into the lease.
    const slot = await provider.gate.acquire();
    let held: HeldLease | undefined;
    /** Whether the lease is released keeping the send record (an answer may still come). */
    let keepSending = false;
    /** The refresh token the claimed row held (the one a send would carry). */
    let sentToken: string | undefined;
    try {
      // Invariant 6: while the provider rejects our client credentials, no
      // user's refresh is attempted. Checked here, where every path to the
      // provider passes, after the wait for a slot (the breaker may have
      // opened meanwhile).
      const open = provider.gate.misconfigured(deps.clock.now());
      if (open !== undefined) throw providerMisconfigured(key.providerId, open.reason, open.retryAfterMs);

      const claimed = await this.#claim(key, provider, want);
      if (claimed.kind !== "claimed") return claimed;
      held = claimed.lease;
      const record = claimed.record;
      const refreshToken = record.refreshToken as string;
      sentToken = refreshToken;

      // Invariant 11: a send whose answer no one saw — this process's own included,
      // unless this process knows the provider answered it without rotating.
      const known = this.#answered.get(linkKeyId(key));
      this.#answered.delete(linkKeyId(key));
      const interrupted = claimed.interrupted?.by === deps.owner && known === refreshToken ? undefined : claimed.interrupted;
      if (interrupted !== undefined) {
        const decision = decideInterrupted(interrupted, {
          now: claimed.now,
          rotationGraceMs: provider.config.rotationGraceMs,
          resendIsProbe: provider.config.resendIsProbe,
          windowMs: deps.settings.interruptedWindowMs,
          retryCapMs: INTERRUPTED_RETRY_MS,
        });
        if (decision.action === "hold") {
          keepSending = true;
          throw refreshInterrupted(key.providerId, interrupted.at, describeOwner(interrupted.by), decision.retryAfterMs);
        }
        if (decision.action === "fail") return await failInterrupted(deps, key, record, interrupted, claimed.why, cause);
      }

      const sent = await this.#send(key, provider, record, claimed.lease, cause);
      slot(); // the provider call is over: committing needs no slot
      const ended = (outcome: RefreshOutcome): void => {
        if (sent.began !== undefined) deps.events.refreshed(key, outcome, performance.now() - sent.began, cause);
      };
      switch (sent.kind) {
        case "lease-lost":
          deps.log.warn({ provider: key.providerId, user: key.userId }, "refresh lease lost; sending nothing more and reading the link again");
          ended("DISCARDED");
          // Every send of this attempt was answered without rotating, but the record of
          // it may still stand on the row, where others read it as an interruption.
          if (sent.began !== undefined) deps.background(this.#clearOwnSend(key, refreshToken));
          return { kind: "changed" };
        case "unknown": {
          // Invariant 11: never a second send. The mark stays, so every
          // claimant learns of it; the answer, should it still come to
          // anyone, heals the link (invariant 12).
          keepSending = true;
          deps.log.warn({ provider: key.providerId, user: key.userId, kind: sent.err.kind, status: sent.err.status }, "a refresh request got no answer that could be used; its refresh token is not sent again");
          const answer = this.#interruptedAnswer(key, provider, sent);
          ended(answer.reason);
          throw answer;
        }
        case "refused":
          try {
            const outcome = await onProviderError(deps, key, provider, refreshToken, sent.err, interrupted, cause);
            ended(outcome.kind === "done" ? "OK" : "DISCARDED");
            return outcome;
          } catch (answer) {
            ended(answer instanceof BrokerError ? answer.reason : Reason.INTERNAL);
            throw answer;
          }
        case "tokens": {
          const outcome = await commitAnswer(deps, { key, provider, held: record, lease: claimed.lease, tokens: sent.tokens, minValidMs: want.minValidMs, sentAt: sent.sentAt, began: sent.began, leaseLost: sent.leaseLost, cause });
          if (outcome.kind === "held") {
            held = undefined; // PendingCommits keeps it renewed until its commit lands: never released here
            if (outcome.answer !== undefined) throw outcome.answer;
            return { kind: "done", record: outcome.record };
          }
          return outcome;
        }
        default:
          return unreachable(sent);
      }
    } finally {
      slot();
      // Conditional on owner and generation: a no-op once a commit or a
      // recorded failure cleared it, or another process claimed it.
      if (held !== undefined) await this.#release(key, held, keepSending, sentToken);
    }
  }

  /**
   * Gives the lease back. When the send record should go with it (the
   * outcome is known) and the store cannot take the write now, the release is
   * retried in the background until it lands — other hosts would otherwise see
   * an interrupted refresh that was none — and this process remembers the
   * outcome meanwhile.
   */
  async #release(key: LinkKey, lease: HeldLease, keepSending: boolean, sent: string | undefined): Promise<void> {
    const deps = this.deps;
    try {
      await deps.store.releaseLease(key, lease, { keepSending });
    } catch (err) {
      if (keepSending || !(err instanceof StoreUnavailableError)) return;
      if (sent !== undefined) this.#remember(key, sent);
      // Released by generation while still ours; if someone claimed meanwhile, the record may
      // still be ours to clear.
      const clear = sent === undefined ? undefined : this.#clearOwnSend(key, sent, retryRelease(deps, key, lease));
      deps.background(clear ?? retryRelease(deps, key, lease));
    }
  }

  /** clearOwnSend for the send this process knows of, unless a newer send of the key supersedes it first; after `first` when given. */
  async #clearOwnSend(key: LinkKey, sent: string, first?: Promise<void>): Promise<void> {
    const keyId = linkKeyId(key);
    const mine = Symbol(keyId);
    this.#clearing.set(keyId, mine);
    try {
      await first;
      await clearOwnSend(this.deps, key, sent, () => this.#clearing.get(keyId) === mine);
    } finally {
      if (this.#clearing.get(keyId) === mine) this.#clearing.delete(keyId);
    }
  }

  #remember(key: LinkKey, refreshToken: string): void {
    if (this.#answered.size >= MAX_REMEMBERED_OUTCOMES) this.#answered.delete(this.#answered.keys().next().value as string);
    this.#answered.set(linkKeyId(key), refreshToken);
  }

  /** Invariants 1, 13 and 14: claim the lease, or learn whom to wait for. */
  async #claim(key: LinkKey, provider: ProviderEntry, want: Want): Promise<Claimed> {
    const deps = this.deps;
    const state = await deps.store.readLease(key);
    if (state === undefined) throw linkNotFound(key);
    const decision = decideLease(state, {
      liveness: (owner) => livenessOf(owner, deps.identity, deps.probe),
      rotationGraceMs: provider.config.rotationGraceMs,
      pollMs: deps.leasePollMs,
    });
    if (decision.action === "wait") return { kind: "wait", ms: decision.ms };
    const claim = await deps.store.claimLease(key, deps.owner, deps.leaseTtlMs, decision.expect, { onlyIfExpired: decision.onlyIfExpired });
    if (!claim.claimed) {
      if ("missing" in claim) throw linkNotFound(key);
      // Lost the race for it, or it was renewed meanwhile; released (held: null): look again at once.
      return { kind: "wait", ms: claim.held === null ? 0 : deps.leasePollMs };
    }
    if (decision.why !== "free") deps.log.info({ provider: key.providerId, user: key.userId, why: decision.why }, "took over a refresh lease");
    const out: Claimed = { kind: "claimed", lease: claim.lease, record: claim.record, now: claim.now, why: decision.why };
    if (claim.interrupted !== undefined) out.interrupted = claim.interrupted;
    // Invariant 2 again: the claimed row is the latest; someone may have finished meanwhile
    // (for a caller reporting a refused token: replaced it, rejected-token.ts).
    if (claim.record.refreshToken === null || (satisfies(claim.record, want, deps.clock.now()) && !isRejected(claim.record, want.wish))) {
      await deps.store.releaseLease(key, claim.lease, { keepSending: claim.interrupted !== undefined }).catch(() => undefined);
      return { kind: "changed" };
    }
    return out;
  }

  /**
   * Invariants 7, 11 and 15: every request under a confirmed lease; retries
   * only of outcomes known not to have rotated (each clears the send record
   * before its backoff); a written request waited for up to
   * refresh.answer_timeout, renewing the lease meanwhile.
   */
  async #send(key: LinkKey, provider: ProviderEntry, record: LinkRecord, lease: HeldLease, cause: CallScope | undefined): Promise<Sent> {
    const deps = this.deps;
    const keeper = new LeaseKeeper({ store: deps.store, key, lease, version: record.version, ttlMs: deps.leaseTtlMs, clock: deps.clock, log: deps.log }).start();
    let began: number | undefined;
    let requestAt: number | undefined;
    let sentAt = deps.clock.now();
    const answered = (): void => {
      if (requestAt !== undefined) deps.events.tokenEndpoint(key.providerId, (performance.now() - requestAt) / 1000);
      requestAt = undefined;
    };
    try {
      const tokens = await refreshWithRetry(provider.config, record.refreshToken as string, {
        send: (token) => deps.endpoint.refresh(provider, token, { timeoutMs: deps.settings.answerTimeoutMs, now: deps.clock.now }),
        random: deps.random,
        timeoutMs: deps.settings.answerTimeoutMs,
        initialBackoffMs: deps.settings.initialBackoffMs,
        maxBackoffMs: deps.settings.maxBackoffMs,
        budgetMs: deps.settings.budgetMs,
        sleep: deps.clock.sleep,
        now: deps.clock.now,
        beforeAttempt: async () => {
          this.#clearing.delete(linkKeyId(key)); // this send's record is not one to clear in the background
          if (!(await keeper.confirmSending())) throw new LeaseLost();
          noteProviderContacted(cause);
          sentAt = deps.clock.now();
          requestAt = performance.now();
          began ??= requestAt;
        },
        afterAnswer: async () => {
          // Invariant 7: the provider answered without rotating; a pause in the backoff is an ordinary expired lease.
          if (!(await keeper.answered())) throw new LeaseLost();
        },
        onAttempt: (attempt, err) => {
          answered();
          deps.log.warn({ provider: key.providerId, user: key.userId, attempt, kind: err.kind, sent: err.sent, status: err.status, error: err.error }, "refresh attempt failed");
        },
      });
      answered();
      return { kind: "tokens", tokens, sentAt, began: began ?? performance.now(), leaseLost: keeper.lost };
    } catch (err) {
      if (err instanceof LeaseLost) return { kind: "lease-lost", began };
      if (err instanceof StoreUnavailableError) throw storeUnavailable(err); // the lease could not be confirmed: nothing was sent
      if (!(err instanceof OAuthError)) throw err;
      if (err.sent === "unknown" && began !== undefined) return { kind: "unknown", err, sentAt, began };
      return { kind: "refused", err, began };
    } finally {
      keeper.stop();
    }
  }

  /**
   * The caller's answer after a send whose answer was lost: inside the grace
   * window (or where a resend is a harmless probe) a plain "try again" — the
   * next claimant may send again; otherwise the link is interrupted.
   */
  #interruptedAnswer(key: LinkKey, provider: ProviderEntry, sent: { err: OAuthError; sentAt: number }): BrokerError {
    const deps = this.deps;
    if (provider.config.rotationGraceMs > 0 || provider.config.resendIsProbe) {
      const retry = new BrokerError(Reason.PROVIDER_UNAVAILABLE, `provider ${JSON.stringify(key.providerId)}: the refresh got no usable answer (${sent.err.message}); try again`, {
        retryAfterMs: 1000,
        metadata: { provider_id: key.providerId },
      });
      return deps.failures.remember(linkKeyId(key), retry, deps.clock.now());
    }
    return refreshInterrupted(key.providerId, sent.sentAt, describeOwner(deps.owner), Math.min(INTERRUPTED_RETRY_MS, deps.settings.interruptedWindowMs || INTERRUPTED_RETRY_MS));
  }
}

function unreachable(value: never): never {
  throw new Error(`unreachable: ${JSON.stringify(value)}`);
}

/**
 * Runs `step` until it says it is done, the store refuses for good (any error
 * but StoreUnavailableError) or `until` (engine clock) passes, waiting a
 * jittered doubling delay (50 ms up to 1 s) before each try.
 */
async function untilStored(deps: RefreshDeps, until: number, step: () => Promise<boolean>): Promise<void> {
  for (let wait = 50; deps.clock.now() < until; wait = Math.min(wait * 2, RELEASE_RETRY_MAX_MS)) {
    await deps.clock.sleep(wait / 2 + deps.random() * (wait / 2));
    try {
      if (await step()) return;
    } catch (err) {
      if (!(err instanceof StoreUnavailableError)) return;
    }
  }
}

/** Retries a release the store could not take until it lands (by generation: a no-op once someone else claimed). */
function retryRelease(deps: RefreshDeps, key: LinkKey, lease: HeldLease): Promise<void> {
  return untilStored(deps, Number.POSITIVE_INFINITY, async () => {
    await deps.store.releaseLease(key, lease);
    return true;
  });
}

/**
 * This process knows the outcome of its last send (the provider answered
 * without rotating) but lost the lease before it could clear the record of
 * that send. Until someone clears it, every claimant reads an interruption
 * and would, after the window, fail a link whose token is in fact good
 * (docs/design.md §3 invariant 7). So it claims the free lease and releases
 * it clearing the record — only if the record is still its own, for the token
 * it sent and no newer send of this process superseded it (`current`).
 * Tried for as long as the interrupted window, then left alone.
 */
function clearOwnSend(deps: RefreshDeps, key: LinkKey, sent: string, current: () => boolean): Promise<void> {
  return untilStored(deps, deps.clock.now() + Math.max(deps.settings.interruptedWindowMs, deps.leaseTtlMs), async () => {
    const claim = await deps.store.claimLease(key, deps.owner, deps.leaseTtlMs, null);
    if ("missing" in claim) return true;
    if (!claim.claimed) return false; // held: try again once it is free
    const mine = current() && claim.interrupted?.by === deps.owner && claim.record.refreshToken === sent;
    await deps.store.releaseLease(key, claim.lease, { keepSending: !mine });
    if (mine) deps.log.info({ provider: key.providerId, user: key.userId }, "cleared the record of a refresh the provider answered without rotating");
    return true;
  });
}
