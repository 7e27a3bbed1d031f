import { BrokerError, Reason } from "../errors/index.js";
import type { Logger } from "../log.js";
import type { ProviderRegistry } from "../providers/index.js";
import type { LinkKey, LinkMeta, LinkRecord, LinkStore } from "../store/link-store.js";
import { AHEAD_EARLIEST, AHEAD_LATEST, aheadDueAt, type AheadPlan, type Timed } from "./ahead.js";
import type { Clock } from "./clock.js";
import type { AheadOutcome, EngineEvents } from "./engine-events.js";
import { DueHeap } from "./due-heap.js";
import { keepAliveScanLoop } from "./keep-alive-scan.js";
import { AHEAD_FLOOR, CapacityPlanner, setDeadline, startAt } from "./ahead-capacity.js";
import { AheadEntry, AheadTable } from "./ahead-entry.js";
import { LinkMap } from "./link-map.js";
import type { Random } from "./random.js";

/**
 * Refreshing ahead of expiry (docs/design.md §3.4): which links to refresh in
 * the background and when. It only decides and schedules; every refresh it
 * starts is the engine's own (`refresh`: the per-key lock, the re-read, the
 * lease, the compare-and-swap and every fault rule), so in a fleet the lease
 * and the re-read after it make exactly one host send.
 *
 * A link is in use while a caller asked for it within `keepFreshForMs`
 * (ObtainAccessToken, WatchAccessToken), or while a watch holds it; kept in
 * memory only. A link of a provider whose refresh tokens die when idle
 * (`refresh_token_idle_lifetime`) is refreshed often enough to stay alive,
 * in use or not: those are found by listing the store.
 */
export interface ProactiveOptions {
  keepFreshForMs: number;
  clock: Clock;
  random: Random;
  log: Logger;
  store: LinkStore;
  providers: ProviderRegistry;
  events: Pick<EngineEvents, "refreshedAhead">;
  /** The engine's background refresh: resolves with the record and whether a refresh token was sent. */
  refresh: (key: LinkKey, plan: AheadPlan) => Promise<{ record: LinkRecord; sent: boolean }>;
}

/** Takes the times of `rec` for the entry's schedule. */
function setTimes(entry: AheadEntry, rec: Timed): void {
  entry.timed = true;
  entry.expiresAt = rec.expiresAt;
  entry.lastRefreshedAt = rec.lastRefreshedAt;
  entry.updatedAt = rec.updatedAt;
}

/** The link's key as a value of its own (what the engine and the events are handed). */
function keyOf(entry: AheadEntry): LinkKey {
  return { providerId: entry.providerId, userId: entry.userId };
}

/** A sleep never longer than this, so a due time far ahead is looked at again (and setTimeout's range is kept). */
const MAX_SLEEP_MS = 600_000;
/** A failed background refresh is tried again after this, doubling, up to MAX_RETRY_MS. */
const FIRST_RETRY_MS = 1_000;
const MAX_RETRY_MS = 300_000;

export class Proactive {
  readonly #options: ProactiveOptions;
  readonly #table = new AheadTable();
  readonly #entries = new LinkMap<AheadEntry>();
  readonly #heap = new DueHeap<AheadEntry>();
  readonly #running = new Map<string, number>();
  readonly #queued = new Map<string, AheadEntry[]>();
  /** Per provider: no background refresh before this (a rate limit, an outage, rejected client credentials). */
  readonly #pausedUntil = new Map<string, number>();
  readonly #capacity = new CapacityPlanner<AheadEntry>();
  readonly #stop = new AbortController();
  #sleep: AbortController | undefined;
  #sleepUntil = Number.POSITIVE_INFINITY;
  #started = false;

  constructor(options: ProactiveOptions) {
    this.#options = options;
  }

  /** Starts the timer loop and, for idle-lifetime providers, the scans. */
  start(): void {
    if (this.#started) return;
    this.#started = true;
    void this.#loop();
    const { store, clock, random, log } = this.#options;
    const scan = { store, clock, random, log, signal: this.#stop.signal, found: (link: LinkMeta, now: number) => this.#foundIdle(link, now) };
    for (const provider of this.#options.providers.all()) {
      const idle = provider.config.refreshTokenIdleLifetimeMs;
      if (idle !== undefined && !provider.config.noRefresh) void keepAliveScanLoop(scan, provider.config.id, idle);
    }
  }

  /** Stops scheduling (shutdown); refreshes already running finish under the engine's drain. */
  stop(): void {
    this.#stop.abort();
    this.#sleep?.abort();
  }

  /**
   * A caller used the link and got `rec` (or the watch did): it counts as in
   * use for keep_fresh_for, and its min_valid_for bounds how late the
   * background refresh may run. Inside the advisory window one background
   * refresh starts at once (the caller already has its token).
   */
  used(key: LinkKey, minValidMs: number, rec?: LinkRecord): void {
    if (this.#stop.signal.aborted || this.#options.keepFreshForMs <= 0) return;
    const now = this.#options.clock.now();
    let entry = this.#entries.get(key);
    if (entry === undefined) {
      // The record's ids when there is one: the record cache holds those strings
      // already (shared-values.ts), while the caller's are its request's, kept
      // here alone (about 50 bytes a link in use).
      const ids: LinkKey = { providerId: rec?.providerId ?? key.providerId, userId: rec?.userId ?? key.userId };
      entry = new AheadEntry(this.#table, ids.providerId, ids.userId, now, minValidMs, now);
      this.#entries.set(ids, entry);
    }
    // Back in use after keep_fresh_for ran out (kept meanwhile only for its provider's idle
    // lifetime): its due time was planned for a link nobody uses, so it is planned again
    // (found by the simulation's fault-free schedules: refreshed at the idle deadline, after expiry).
    let changed = !this.#inUse(entry, now);
    entry.lastUsedAt = now;
    if (minValidMs >= entry.minValidMs || now - entry.minValidAt > this.#options.keepFreshForMs) {
      if (minValidMs !== entry.minValidMs) changed = true;
      entry.minValidMs = minValidMs;
      entry.minValidAt = now;
    }
    if (rec !== undefined && rec.version !== entry.version) {
      entry.version = rec.version;
      setTimes(entry, rec);
      entry.fraction = AHEAD_EARLIEST + (AHEAD_LATEST - AHEAD_EARLIEST) * this.#options.random();
      changed = true;
    }
    if (changed) this.#reschedule(entry, now);
    // The advisory window: this caller has its token; one refresh starts in the background.
    if (!entry.busy && entry.timed && now >= entry.notBefore && now >= aheadDueAt(entry, this.#plan(entry, now), AHEAD_EARLIEST)) this.#dispatch(entry);
  }

  /** A watch holds the link in use until the returned function is called. */
  hold(key: LinkKey, minValidMs: number): () => void {
    this.used(key, minValidMs);
    const entry = this.#entries.get(key);
    if (entry === undefined) return () => undefined;
    entry.holds++;
    let held = true;
    return () => {
      if (!held) return;
      held = false;
      entry.holds--;
      entry.lastUsedAt = this.#options.clock.now();
    };
  }

  /** Links in use whose token is inside its advisory window now (a gauge). */
  get inAdvisoryWindow(): number {
    const now = this.#options.clock.now();
    let n = 0;
    for (const entry of this.#entries.values()) {
      const plan = this.#plan(entry, now);
      if (entry.timed && plan.inUse && entry.expiresAt !== null && now < entry.expiresAt && now >= aheadDueAt(entry, plan, AHEAD_EARLIEST)) n++;
    }
    return n;
  }

  /** Links this process keeps fresh or alive (tests, status). */
  get tracked(): number {
    return this.#entries.size;
  }

  /** Held by a watch, or asked for within keep_fresh_for. */
  #inUse(entry: AheadEntry, now: number): boolean {
    return entry.holds > 0 || now - entry.lastUsedAt <= this.#options.keepFreshForMs;
  }

  #plan(entry: AheadEntry, now: number): AheadPlan {
    const inUse = this.#inUse(entry, now);
    const idle = this.#options.providers.get(entry.providerId)?.config.refreshTokenIdleLifetimeMs;
    return { inUse, maxMinValidMs: inUse ? entry.minValidMs : 0, idleLifetimeMs: idle };
  }

  /** Sets the entry's next due time from what it knows and queues it. */
  #reschedule(entry: AheadEntry, now: number, at?: number): void {
    const plan = this.#plan(entry, now);
    this.#track(entry, plan, now);
    let due = at ?? this.#startAt(entry, plan);
    // An in-use link is looked at again when keep_fresh_for runs out (then dropped, unless idle-lifetime).
    if (plan.inUse && entry.holds === 0) due = Math.min(due, entry.lastUsedAt + this.#options.keepFreshForMs + 1);
    if (!plan.inUse && plan.idleLifetimeMs === undefined) {
      this.#drop(entry);
      return;
    }
    entry.dueAt = Math.max(due, entry.notBefore);
    if (!Number.isFinite(entry.dueAt)) {
      this.#heap.remove(entry);
      return;
    }
    this.#heap.set(entry);
    this.#wake(entry.dueAt);
  }

  /**
   * Forgets the link: no longer tracked, nothing scheduled. Only this entry:
   * should the link have a newer one by then, that one stays (no path is
   * known to drop a stale entry, but the map must not depend on that).
   */
  #drop(entry: AheadEntry): void {
    if (this.#entries.get(entry) === entry) this.#entries.delete(entry);
    this.#heap.remove(entry);
  }

  /** Wakes the loop if it sleeps past `at`. */
  #wake(at: number): void {
    if (at < this.#sleepUntil) this.#sleep?.abort();
  }

  /** When the entry's background refresh starts: its own due time, or earlier for its provider's backlog (ahead-capacity.ts). */
  #startAt(entry: AheadEntry, plan: AheadPlan): number {
    return !entry.timed ? Number.POSITIVE_INFINITY : startAt(entry, entry, plan, entry.fraction);
  }

  /** Keeps the entry's deadline current; a new one makes its provider's plan stale (remade from the loop, not here). */
  #track(entry: AheadEntry, plan: AheadPlan, now: number): void {
    if (setDeadline(entry, entry.timed ? entry : undefined, plan)) this.#wake(this.#capacity.changed(entry.providerId, now));
  }

  /** Remakes the stale plans (ahead-capacity.ts); a link now due earlier than scheduled is queued again for then. */
  #replan(now: number): void {
    const plans = this.#capacity.replan(now, this.#entries.values(), (e) => e.providerId, (e) => !e.busy, (id) => this.#limit(id));
    for (const entry of plans.flat()) {
      if (entry.latest < entry.dueAt && this.#startAt(entry, this.#plan(entry, now)) < entry.dueAt) this.#reschedule(entry, now);
    }
  }

  async #loop(): Promise<void> {
    const clock = this.#options.clock;
    while (!this.#stop.signal.aborted) {
      const now = clock.now();
      this.#replan(now);
      for (let entry = this.#heap.peek(); entry !== undefined && entry.dueAt <= now; entry = this.#heap.peek()) {
        this.#heap.pop();
        if (this.#entries.get(entry) === entry) this.#due(entry, now);
      }
      const next = Math.min(this.#heap.peek()?.dueAt ?? Number.POSITIVE_INFINITY, this.#capacity.nextAt);
      const ms = Math.max(1, Math.min(next - now, MAX_SLEEP_MS));
      const ctl = new AbortController();
      this.#sleep = ctl;
      this.#sleepUntil = now + ms;
      await clock.sleep(ms, ctl.signal).catch(() => undefined);
      this.#sleep = undefined;
      this.#sleepUntil = Number.POSITIVE_INFINITY;
    }
  }

  /** A scheduled time came: drop a link no longer in use, or refresh it. */
  #due(entry: AheadEntry, now: number): void {
    if (entry.busy) return;
    const plan = this.#plan(entry, now);
    if (!plan.inUse && plan.idleLifetimeMs === undefined) {
      this.#drop(entry);
      return;
    }
    if (entry.timed && now < this.#startAt(entry, plan)) {
      this.#reschedule(entry, now);
      return;
    }
    this.#dispatch(entry);
  }

  /** Starts the entry's refresh, or queues it behind its provider's background limit or pause. */
  #dispatch(entry: AheadEntry): void {
    entry.busy = true;
    const providerId = entry.providerId;
    const now = this.#options.clock.now();
    if ((this.#running.get(providerId) ?? 0) >= this.#limit(providerId) || (this.#pausedUntil.get(providerId) ?? 0) > now) {
      const queue = this.#queued.get(providerId) ?? [];
      queue.push(entry);
      this.#queued.set(providerId, queue);
      return;
    }
    this.#run(entry);
  }

  /**
   * Background refreshes per provider at once: half its concurrency limit
   * (at least one), so callers whose token can no longer satisfy them always
   * find a slot of the provider's gate (§3 invariant 9) without waiting
   * behind refreshes that could wait.
   */
  #limit(providerId: string): number {
    const entry = this.#options.providers.get(providerId);
    return entry === undefined ? 1 : Math.max(1, Math.ceil(entry.gate.limit / 2));
  }

  #run(entry: AheadEntry): void {
    const providerId = entry.providerId;
    this.#running.set(providerId, (this.#running.get(providerId) ?? 0) + 1);
    const now = this.#options.clock.now();
    const plan = this.#plan(entry, now);
    // Started early for a backlog: the engine is to count it as needed from the floor, not from 75 %.
    if (entry.timed && now < aheadDueAt(entry, plan, AHEAD_EARLIEST)) plan.earliest = AHEAD_FLOOR;
    this.#options
      .refresh(keyOf(entry), plan)
      .then(
        ({ record, sent }) => {
          this.#options.events.refreshedAhead(keyOf(entry), sent ? "REFRESHED" : "NOT_NEEDED");
          // Only refreshes that sent are the cost of a backlog; one found done already took a re-read.
          if (sent) this.#wake(this.#capacity.observe(providerId, this.#options.clock.now() - now, this.#options.clock.now()));
          entry.failures = 0;
          entry.notBefore = 0;
          // Found not needed on the same token: no early start again before the next plan (never a loop of re-reads).
          if (!sent && record.version === entry.version) entry.latest = Number.POSITIVE_INFINITY;
          this.#learn(entry, record);
          entry.busy = false;
          this.#reschedule(entry, this.#options.clock.now());
        },
        (err: unknown) => {
          entry.busy = false;
          this.#failed(entry, err);
        },
      )
      .finally(() => {
        this.#running.set(providerId, (this.#running.get(providerId) ?? 1) - 1);
        this.#pump(providerId);
      });
  }

  #learn(entry: AheadEntry, rec: LinkRecord): void {
    if (rec.version === entry.version) return;
    entry.version = rec.version;
    setTimes(entry, rec);
    entry.fraction = AHEAD_EARLIEST + (AHEAD_LATEST - AHEAD_EARLIEST) * this.#options.random();
  }

  /** A background refresh failed: callers keep the current token; the link is tried again later, or dropped when it needs re-linking. */
  #failed(entry: AheadEntry, err: unknown): void {
    const now = this.#options.clock.now();
    const reason = err instanceof BrokerError ? err.reason : Reason.INTERNAL;
    this.#options.events.refreshedAhead(keyOf(entry), reason as AheadOutcome);
    switch (reason) {
      case Reason.LINK_NOT_FOUND:
      case Reason.REAUTH_REQUIRED:
      case Reason.PROVIDER_NOT_FOUND:
      case Reason.DECRYPT_FAILED:
      case Reason.MIN_VALIDITY_UNREACHABLE:
        this.#drop(entry);
        return;
      default:
        break;
    }
    const retryAfter = err instanceof BrokerError ? err.detail.retryAfterMs : undefined;
    const backoff = Math.min(MAX_RETRY_MS, FIRST_RETRY_MS * 2 ** Math.min(entry.failures, 16));
    entry.failures++;
    const wait = Math.max(retryAfter ?? 0, backoff) * (1 + 0.2 * this.#options.random());
    if (reason === Reason.PROVIDER_RATE_LIMITED || reason === Reason.PROVIDER_UNAVAILABLE || reason === Reason.PROVIDER_MISCONFIGURED) {
      // The provider's limit or outage holds every background refresh of it back, not only this link's.
      const until = now + Math.max(retryAfter ?? 0, FIRST_RETRY_MS);
      this.#pausedUntil.set(entry.providerId, Math.max(this.#pausedUntil.get(entry.providerId) ?? 0, until));
    }
    if (err instanceof BrokerError) this.#options.log.info({ provider: entry.providerId, user: entry.userId, reason, retryInMs: Math.round(wait) }, "background refresh failed; callers keep the current token");
    else this.#options.log.error({ provider: entry.providerId, user: entry.userId, err: { message: String(err) } }, "background refresh failed unexpectedly");
    entry.notBefore = now + wait;
    this.#reschedule(entry, now, now + wait);
  }

  /** Starts queued refreshes of a provider while it has room and is not paused. */
  #pump(providerId: string): void {
    const queue = this.#queued.get(providerId);
    if (queue === undefined || queue.length === 0) return;
    const now = this.#options.clock.now();
    const paused = this.#pausedUntil.get(providerId) ?? 0;
    if (paused > now) {
      if (!this.#stop.signal.aborted) void this.#options.clock.sleep(paused - now, this.#stop.signal).then(() => this.#pump(providerId), () => undefined);
      return;
    }
    while (queue.length > 0 && (this.#running.get(providerId) ?? 0) < this.#limit(providerId)) {
      const entry = queue.shift() as AheadEntry;
      if (this.#entries.get(entry) !== entry || this.#stop.signal.aborted) {
        entry.busy = false;
        continue;
      }
      this.#run(entry);
    }
  }

  /** A link of an idle-lifetime provider whose refresh token is getting old (keep-alive-scan.ts). */
  #foundIdle(link: LinkMeta, now: number): void {
    if (this.#entries.has(link)) return;
    const entry = new AheadEntry(this.#table, link.providerId, link.userId, Number.NEGATIVE_INFINITY, 0, now);
    entry.version = link.version;
    entry.fraction = AHEAD_EARLIEST + (AHEAD_LATEST - AHEAD_EARLIEST) * this.#options.random();
    setTimes(entry, link);
    this.#entries.set(link, entry);
    this.#reschedule(entry, now);
  }
}
