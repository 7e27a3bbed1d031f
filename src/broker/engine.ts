import type { CallScope } from "../audit/call-scope.js";
import type { RefreshSettings } from "../config/config.js";
import { domainError, linkNotFound, minValidityUnreachable as minValidityUnreachableError, noRefreshToken, providerUnavailable, reauthRecorded, refreshInProgress, storeUnavailable } from "../errors/index.js";
import type { Logger } from "../log.js";
import type { TokenSet } from "../oauth/index.js";
import type { ProviderEntry, ProviderRegistry } from "../providers/index.js";
import { linkKeyId, type LinkKey, type LinkRecord, type LinkStore } from "../store/link-store.js";
import { systemClock, type Clock } from "./clock.js";
import { satisfies, type AheadPlan, type Want } from "./ahead.js";
import { noEvents, type EngineEvents } from "./engine-events.js";
import { isFresh, minValidityUnreachable } from "./freshness.js";
import { KeyedLock } from "./keyed-lock.js";
import { currentIdentity, formatOwner, probeProcess, type OwnerIdentity, type ProcessProbe } from "./lease-owner.js";
import { PendingCommits } from "./pending-commits.js";
import { Proactive } from "./proactive.js";
import { raceSignal, raceSignalIfSlow } from "./race-signal.js";
import { RecentFailures } from "./recent-failures.js";
import { systemRandom, type Random } from "./random.js";
import { Refresher } from "./refresher.js";
import { isRejected, type TokenWish } from "./rejected-token.js";
import { httpTokenEndpoint, type TokenEndpoint } from "./token-endpoint.js";
import { Validator } from "./validator.js";

export interface EngineOptions {
  store: LinkStore;
  providers: ProviderRegistry;
  settings: RefreshSettings;
  log: Logger;
  /**
   * How often a process waiting on another's lease looks again (default
   * 25 ms; 250 ms when the store wakes waiters itself, `LinkStore.changed`).
   */
  leasePollMs?: number;
  clock?: Clock;
  /** Jitter's source (default Math.random); the simulation passes a seeded one. */
  random?: Random;
  /** The provider's token endpoint (default: HTTP, oauth/); the simulation passes a model. */
  tokenEndpoint?: TokenEndpoint;
  /** This process's identity as a lease owner (tests make several in one process). */
  identity?: OwnerIdentity;
  /** How another holder's liveness is looked up (tests stand in for /proc). */
  probe?: ProcessProbe;
  /** Refreshes, recorded failures, token-endpoint and lock-wait times (metrics, the audit log). */
  events?: EngineEvents;
}

/** Re-judging a row that keeps changing under the refresh has to end somewhere. */
const MAX_CHANGES = 3;
const POLL_MS = 25;
/** With a store that announces changes, polling is only the fallback (NOTIFY is not durable). */
const NOTIFIED_POLL_MS = 250;

/**
 * The refresh engine: hands out access tokens valid for at least the asked
 * time and refreshes them so that neither racing callers (in this process or
 * in others sharing the store) nor faults (odd answers, a paused or killed
 * holder, a locked or full database) replay a spent refresh token, lose a
 * rotated one, or blame the user for someone else's win. docs/design.md §3
 * lists the invariants; each is marked where it is kept. One attempt lives
 * in refresher.ts; this file decides when one is needed.
 */
export class RefreshEngine {
  readonly #store: LinkStore;
  readonly #providers: ProviderRegistry;
  readonly #log: Logger;
  readonly #clock: Clock;
  readonly #locks = new KeyedLock();
  /** Per key, the first caller's refresh while it runs: callers arriving meanwhile share it (#shared). */
  readonly #flights = new Map<string, Promise<LinkRecord>>();
  readonly #inFlight = new Set<Promise<unknown>>();
  readonly #pending: PendingCommits;
  readonly #failures = new RecentFailures();
  readonly #refresher: Refresher;
  readonly #settings: RefreshSettings;
  readonly #events: EngineEvents;
  readonly #endpoint: TokenEndpoint;
  /** Refreshing ahead of expiry (docs/design.md §3.4); undefined when settings.keepFreshForMs is unset or 0. */
  readonly #ahead: Proactive | undefined;
  /** This process's lease owner id. */
  readonly owner: string;

  constructor(opts: EngineOptions) {
    this.#store = opts.store;
    this.#providers = opts.providers;
    this.#log = opts.log;
    this.#clock = opts.clock ?? systemClock;
    this.#settings = opts.settings;
    this.#events = opts.events ?? noEvents;
    const identity = opts.identity ?? currentIdentity();
    this.owner = formatOwner(identity);
    this.#endpoint = opts.tokenEndpoint ?? httpTokenEndpoint;
    const random = opts.random ?? systemRandom;
    this.#pending = new PendingCommits(this.#clock, this.#log, random);
    this.#refresher = new Refresher({
      store: opts.store,
      settings: opts.settings,
      log: opts.log,
      clock: this.#clock,
      random,
      endpoint: this.#endpoint,
      identity,
      owner: this.owner,
      probe: opts.probe ?? probeProcess,
      leaseTtlMs: opts.settings.leaseTtlMs,
      leasePollMs: opts.leasePollMs ?? (opts.store.changed === undefined ? POLL_MS : NOTIFIED_POLL_MS),
      pending: this.#pending,
      failures: this.#failures,
      events: this.#events,
      validator: new Validator(opts.settings, opts.log, this.#clock, this.#events),
      revokeOrphan: (key, provider, tokens) => this.#revokeOrphan(key, provider, tokens),
      background: (work) => this.#track(work),
    });
    const keepFreshForMs = opts.settings.keepFreshForMs ?? 0;
    this.#ahead =
      keepFreshForMs > 0
        ? new Proactive({
            keepFreshForMs,
            clock: this.#clock,
            random,
            log: opts.log,
            store: opts.store,
            providers: opts.providers,
            events: this.#events,
            refresh: (key, plan) => this.#refreshAhead(key, plan),
          })
        : undefined;
    this.#ahead?.start();
  }

  /**
   * Notes that a caller uses the link (docs/design.md §3.4): it is refreshed
   * in the background ahead of expiry for refresh.keep_fresh_for from now,
   * never later than `minValidMs` before expiry. obtain() notes every caller
   * it answers itself; call this for a use that does not go through obtain.
   */
  noteUse(key: LinkKey, minValidMs: number): void {
    this.#ahead?.used(key, minValidMs);
  }

  /**
   * Holds the link in use (a WatchAccessToken stream) until the returned
   * function is called; then keep_fresh_for counts from the release.
   */
  holdUse(key: LinkKey, minValidMs: number): () => void {
    return this.#ahead?.hold(key, minValidMs) ?? (() => undefined);
  }

  /** Stops starting background refreshes (those running finish); drain() does it first. */
  stopRefreshingAhead(): void {
    this.#ahead?.stop();
  }

  /** Links in use whose token is inside its advisory window (a gauge; 0 with refreshing ahead off). */
  get linksInAdvisoryWindow(): number {
    return this.#ahead?.inAdvisoryWindow ?? 0;
  }

  /** Per-key locks currently held or awaited (0 when idle). */
  get lockCount(): number {
    return this.#locks.size;
  }

  /** Refreshed tokens held in memory because the store could not take them yet. */
  get pendingCommits(): number {
    return this.#pending.size;
  }

  /**
   * A token valid for at least `minValidMs`. The caller's `signal` only stops
   * the caller from waiting: a refresh it started runs on and is committed.
   * Pass a function to build the signal only when there is something to
   * wait for (a cache hit then allocates no timer). `wish.rejectedAccessToken`:
   * an access token the caller saw refused is refreshed while it is still the
   * stored one, and only then (rejected-token.ts). `cause`: the call asking
   * (its audit scope), named by the lines of a refresh it starts.
   */
  async obtain(key: LinkKey, minValidMs: number, signal?: AbortSignal | (() => AbortSignal), wish?: TokenWish, cause?: CallScope): Promise<LinkRecord> {
    const provider = this.#providers.require(key.providerId);
    // The caller stops waiting at its deadline even when the store does not
    // answer (a frozen connection waits for its query deadline); a signal
    // built on demand is built only when there is something to wait for.
    let built: AbortSignal | undefined;
    const stop = (): AbortSignal | undefined => (built ??= typeof signal === "function" ? signal() : signal);
    const read = this.#current(key);
    const seen = await (typeof signal === "function" ? raceSignalIfSlow(read, stop) : raceSignal(read, signal));
    // A new caller is not answered with a failure remembered from before it arrived.
    const want: Want = { minValidMs, wish };
    const answer = this.#judge(seen, provider, want, Number.POSITIVE_INFINITY);
    if (answer !== undefined) {
      // In the advisory window this starts one background refresh; the caller has its token now.
      this.#ahead?.used(key, minValidMs, answer);
      return answer;
    }
    // Invariant 3: the work is detached from the caller's lifetime.
    const arrived = this.#failures.mark();
    const asked = performance.now();
    const id = linkKeyId(key);
    const locked = (): Promise<LinkRecord> =>
      this.#locks.run(id, () => {
        this.#events.lockWait((performance.now() - asked) / 1000);
        return this.#refreshLocked(key, provider, want, arrived, cause);
      });
    const flight = this.#flights.get(id);
    let work: Promise<LinkRecord>;
    if (flight !== undefined) {
      work = flight.then((rec) => this.#shared(rec, seen, provider, want, arrived, asked) ?? locked(), locked);
    } else {
      work = locked();
      this.#flights.set(id, work);
      const land = (): void => {
        if (this.#flights.get(id) === work) this.#flights.delete(id);
      };
      work.then(land, land);
    }
    this.#track(work);
    if (this.#ahead !== undefined) work.then((rec) => this.#ahead?.used(key, minValidMs, rec), () => undefined);
    return raceSignal(work, stop());
  }

  /**
   * A refresh another caller of this process started for the key, shared by
   * one that arrived while it ran (a storm's 999 others): its record is
   * judged as the re-read under the lock would judge it (invariant 2), so
   * the caller gets it without taking the lock in turn to read it again.
   * Only a record written after the caller's own read counts — the same
   * link (createdAt) at a higher version — since one written before it may
   * already be replaced by what that read saw. Undefined: take the lock.
   */
  #shared(rec: LinkRecord, seen: LinkRecord, provider: ProviderEntry, want: Want, arrived: number, asked: number): LinkRecord | undefined {
    if (rec.createdAt !== seen.createdAt || rec.version <= seen.version) return undefined;
    const answer = this.#judge(rec, provider, want, arrived);
    if (answer !== undefined) this.#events.lockWait((performance.now() - asked) / 1000);
    return answer;
  }

  /** Runs `work` holding the key's refresh lock: no refresh of this process overlaps it (unlink). */
  exclusive<T>(key: LinkKey, work: () => Promise<T>): Promise<T> {
    return this.#locks.run(linkKeyId(key), work);
  }

  /**
   * Shutdown: waits for refreshes in flight (each ends by its own timeouts),
   * then for held commits until `deadline`; every one still held is logged
   * loudly, since its rotated refresh token is lost with the process.
   */
  async drain(deadline = Number.POSITIVE_INFINITY): Promise<void> {
    this.#ahead?.stop();
    while (this.#inFlight.size > 0 && this.#clock.now() < deadline) {
      const timer = new AbortController();
      const left = deadline - this.#clock.now();
      const wait = Number.isFinite(left) ? [this.#clock.sleep(left, timer.signal).catch(() => undefined)] : [];
      await Promise.race([Promise.allSettled([...this.#inFlight]), ...wait]);
      timer.abort();
    }
    for (const key of await this.#pending.drain(deadline)) {
      this.#log.error({ provider: key.providerId, user: key.userId }, "shutting down with a refreshed token that could not be stored; the user will have to link again");
    }
  }

  /**
   * A background refresh ahead of expiry (docs/design.md §3.4): the same
   * path as a caller's — the key's lock, the re-read, the lease, the
   * compare-and-swap, every fault rule — judged by `satisfies` with the plan,
   * so a link another caller, process or host already refreshed is left
   * alone. `sent`: whether this process sent the refresh token.
   */
  #refreshAhead(key: LinkKey, plan: AheadPlan): Promise<{ record: LinkRecord; sent: boolean }> {
    const provider = this.#providers.require(key.providerId);
    const arrived = this.#failures.mark();
    const ran = { sent: false };
    const work = this.#locks.run(linkKeyId(key), () => this.#refreshLocked(key, provider, { minValidMs: 0, ahead: plan }, arrived, undefined, ran)).then((record) => ({ record, sent: ran.sent }));
    this.#track(work);
    return work;
  }

  async #refreshLocked(key: LinkKey, provider: ProviderEntry, want: Want, arrived: number, cause: CallScope | undefined, ran?: { sent: boolean }): Promise<LinkRecord> {
    // Long enough for a live holder to finish one whole refresh; the caller
    // has usually stopped waiting long before (its deadline), the work not.
    const settings = this.#settings;
    const giveUpAt = this.#clock.now() + settings.leaseTtlMs + settings.budgetMs + 2 * settings.timeoutMs;
    let changes = 0;
    for (;;) {
      // Invariant 2: after taking the lock, re-read.
      const current = await this.#current(key);
      const answer = this.#judge(current, provider, want, arrived);
      if (answer !== undefined) return answer;
      const outcome = await this.#refresher.attempt(key, provider, want, cause);
      switch (outcome.kind) {
        case "done":
          if (ran !== undefined) ran.sent = true;
          return outcome.record;
        case "changed":
          if (++changes > MAX_CHANGES) throw providerUnavailable(key.providerId, "the link kept changing during the refresh", 1000);
          continue;
        case "wait":
          if (this.#clock.now() >= giveUpAt) throw refreshInProgress(key.providerId);
          // Woken by the holder's commit or release when the store can tell (invariant 1 across hosts).
          if (this.#store.changed !== undefined && outcome.ms > 0) await this.#store.changed(key, outcome.ms);
          else await this.#clock.sleep(outcome.ms);
      }
    }
  }

  /**
   * Whether `rec` answers the caller without a refresh: the record itself,
   * a thrown final answer, or undefined when a refresh is needed.
   */
  #judge(rec: LinkRecord, provider: ProviderEntry, want: Want, arrived: number): LinkRecord | undefined {
    const now = this.#clock.now();
    const minValidMs = want.minValidMs;
    // The erase compare-and-swap: the very token the caller saw refused is still stored.
    if (isRejected(rec, want.wish)) return this.#refreshable(rec, provider, arrived, now);
    if (satisfies(rec, want, now)) return rec;
    // Invariant 16: another refresh would mint a token just as short-lived.
    const lifetime = minValidityUnreachable(rec, minValidMs, now);
    if (lifetime !== undefined) throw minValidityUnreachableError(rec.providerId, lifetime, minValidMs);
    return this.#refreshable(rec, provider, arrived, now);
  }

  /** Undefined when a refresh of `rec` may start now; otherwise throws the caller's final answer. */
  #refreshable(rec: LinkRecord, provider: ProviderEntry, arrived: number, now: number): undefined {
    if (rec.refreshToken === null || provider.config.noRefresh) {
      // Invariant 5, the fast path: a recorded failure is final until re-link.
      if (rec.refreshFailure !== null) throw reauthRecorded(rec.refreshFailure);
      throw noRefreshToken();
    }
    // A commit held in memory carries the only live refresh token: no refresh may start from the stored one.
    if (this.#pending.get(linkKeyId(rec)) !== undefined) throw storeUnavailable(undefined, "a refreshed token of this link is waiting to be stored");
    // Callers queued behind a refresh that just failed transiently share its answer.
    const recent = this.#failures.since(linkKeyId(rec), arrived, now);
    if (recent !== undefined) throw recent;
    return undefined;
  }

  /** The newest state of a link: a commit held in memory, else the store's row. */
  async #current(key: LinkKey): Promise<LinkRecord> {
    const pending = this.#pending.get(linkKeyId(key));
    if (pending !== undefined) {
      // Its refresh token exists only in memory until the commit lands: no
      // second refresh may start from the stored, spent one.
      if (isFresh(pending.record, 0, this.#clock.now())) return pending.record;
      throw storeUnavailable(undefined, "a refreshed token of this link is waiting to be stored");
    }
    let rec: LinkRecord | undefined;
    try {
      rec = await this.#store.get(key);
    } catch (err) {
      throw domainError(err, key);
    }
    if (rec === undefined) throw linkNotFound(key);
    return rec;
  }

  #track(work: Promise<unknown>): void {
    this.#inFlight.add(work);
    const done = (): void => {
      this.#inFlight.delete(work);
    };
    work.then(done, done);
  }

  /** Tokens issued for a link unlinked while the refresh was in flight (possibly by another process) belong to no one. */
  #revokeOrphan(key: LinkKey, provider: ProviderEntry, tokens: TokenSet): void {
    const work = this.#endpoint
      .revoke(provider, { ...(tokens.refreshToken !== undefined ? { refreshToken: tokens.refreshToken } : {}), accessToken: tokens.accessToken }, this.#settings.timeoutMs)
      .then((result) => this.#log.info({ provider: key.providerId, user: key.userId, revoked: result.revoked }, "revoked tokens refreshed for an unlinked link"));
    this.#track(work);
  }
}
