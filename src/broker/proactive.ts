import { BrokerError, Reason } from "../errors/index.js";
import type { Logger } from "../log.js";
import type { ProviderRegistry } from "../providers/index.js";
import type { LinkKey, LinkRecord, LinkStore } from "../store/link-store.js";
import { AHEAD_EARLIEST, AHEAD_LATEST, aheadDueAt, type AheadPlan } from "./ahead.js";
import type { Clock } from "./clock.js";
import type { AheadOutcome, EngineEvents } from "./engine-events.js";
import { linkKeyId } from "../store/link-store.js";
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

interface Entry {
  key: LinkKey;
  k: string;
  /** When a caller last asked (engine clock); -Infinity for a link known only from the idle scan. */
  lastUsedAt: number;
  /** Open watches holding it in use. */
  holds: number;
  /** The largest min_valid_for asked within keep_fresh_for, and when. */
  minValidMs: number;
  minValidAt: number;
  /** The record version the schedule was computed from (-1: none yet). */
  version: number;
  /** This version's jittered fraction of the lifetime. */
  fraction: number;
  /** The record the schedule was computed from (its times only). */
  rec: Pick<LinkRecord, "expiresAt" | "lastRefreshedAt" | "updatedAt" | "accessToken"> | undefined;
  dueAt: number;
  /** Invalidates heap items pushed for an earlier schedule. */
  seq: number;
  /** A background refresh of it is running or queued for its provider. */
  busy: boolean;
  /** Consecutive failed background refreshes (backoff). */
  failures: number;
  /** No advisory start before this (after a failure). */
  notBefore: number;
}

interface Item {
  at: number;
  seq: number;
  entry: Entry;
}

/** A sleep never longer than this, so a due time far ahead is looked at again (and setTimeout's range is kept). */
const MAX_SLEEP_MS = 600_000;
/** A failed background refresh is tried again after this, doubling, up to MAX_RETRY_MS. */
const FIRST_RETRY_MS = 1_000;
const MAX_RETRY_MS = 300_000;
/** The idle scan pages through the store this many links at a time. */
const SCAN_PAGE = 500;

export class Proactive {
  readonly #o: ProactiveOptions;
  readonly #entries = new Map<string, Entry>();
  readonly #heap: Item[] = [];
  readonly #running = new Map<string, number>();
  readonly #queued = new Map<string, Entry[]>();
  /** Per provider: no background refresh before this (a rate limit, an outage, rejected client credentials). */
  readonly #pausedUntil = new Map<string, number>();
  readonly #stop = new AbortController();
  #sleep: AbortController | undefined;
  #sleepUntil = Number.POSITIVE_INFINITY;
  #seq = 0;
  #started = false;

  constructor(o: ProactiveOptions) {
    this.#o = o;
  }

  /** Starts the timer loop and, for idle-lifetime providers, the scans. */
  start(): void {
    if (this.#started) return;
    this.#started = true;
    void this.#loop();
    for (const p of this.#o.providers.all()) {
      const idle = p.config.refreshTokenIdleLifetimeMs;
      if (idle !== undefined && !p.config.noRefresh) void this.#scanLoop(p.config.id, idle);
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
    if (this.#stop.signal.aborted || this.#o.keepFreshForMs <= 0) return;
    const now = this.#o.clock.now();
    const k = linkKeyId(key);
    let e = this.#entries.get(k);
    if (e === undefined) {
      e = { key: { providerId: key.providerId, userId: key.userId }, k, lastUsedAt: now, holds: 0, minValidMs, minValidAt: now, version: -1, fraction: AHEAD_LATEST, rec: undefined, dueAt: Number.POSITIVE_INFINITY, seq: 0, busy: false, failures: 0, notBefore: 0 };
      this.#entries.set(k, e);
    }
    e.lastUsedAt = now;
    let changed = false;
    if (minValidMs >= e.minValidMs || now - e.minValidAt > this.#o.keepFreshForMs) {
      changed = minValidMs !== e.minValidMs;
      e.minValidMs = minValidMs;
      e.minValidAt = now;
    }
    if (rec !== undefined && rec.version !== e.version) {
      e.version = rec.version;
      e.rec = { expiresAt: rec.expiresAt, lastRefreshedAt: rec.lastRefreshedAt, updatedAt: rec.updatedAt, accessToken: rec.accessToken };
      e.fraction = AHEAD_EARLIEST + (AHEAD_LATEST - AHEAD_EARLIEST) * this.#o.random();
      changed = true;
    }
    if (changed) this.#reschedule(e, now);
    // The advisory window: this caller has its token; one refresh starts in the background.
    if (!e.busy && e.rec !== undefined && now >= e.notBefore && now >= aheadDueAt(e.rec, this.#plan(e, now), AHEAD_EARLIEST)) this.#dispatch(e);
  }

  /** A watch holds the link in use until the returned function is called. */
  hold(key: LinkKey, minValidMs: number): () => void {
    this.used(key, minValidMs);
    const e = this.#entries.get(linkKeyId(key));
    if (e === undefined) return () => undefined;
    e.holds++;
    let held = true;
    return () => {
      if (!held) return;
      held = false;
      e.holds--;
      e.lastUsedAt = this.#o.clock.now();
    };
  }

  /** Links in use whose token is inside its advisory window now (a gauge). */
  get inAdvisoryWindow(): number {
    const now = this.#o.clock.now();
    let n = 0;
    for (const e of this.#entries.values()) {
      const plan = this.#plan(e, now);
      if (e.rec !== undefined && plan.inUse && e.rec.expiresAt !== null && now < e.rec.expiresAt && now >= aheadDueAt(e.rec, plan, AHEAD_EARLIEST)) n++;
    }
    return n;
  }

  /** Links this process keeps fresh or alive (tests, status). */
  get tracked(): number {
    return this.#entries.size;
  }

  #plan(e: Entry, now: number): AheadPlan {
    const inUse = e.holds > 0 || now - e.lastUsedAt <= this.#o.keepFreshForMs;
    const idle = this.#o.providers.get(e.key.providerId)?.config.refreshTokenIdleLifetimeMs;
    return { inUse, maxMinValidMs: inUse ? e.minValidMs : 0, idleLifetimeMs: idle };
  }

  /** Sets the entry's next due time from what it knows and queues it. */
  #reschedule(e: Entry, now: number, at?: number): void {
    const plan = this.#plan(e, now);
    let due = at ?? (e.rec === undefined ? Number.POSITIVE_INFINITY : aheadDueAt(e.rec, plan, e.fraction));
    // An in-use link is looked at again when keep_fresh_for runs out (then dropped, unless idle-lifetime).
    if (plan.inUse && e.holds === 0) due = Math.min(due, e.lastUsedAt + this.#o.keepFreshForMs + 1);
    if (!plan.inUse && plan.idleLifetimeMs === undefined) {
      this.#entries.delete(e.k);
      e.seq = -1;
      return;
    }
    e.dueAt = Math.max(due, e.notBefore);
    e.seq = ++this.#seq;
    if (!Number.isFinite(e.dueAt)) return;
    this.#push({ at: e.dueAt, seq: e.seq, entry: e });
    if (e.dueAt < this.#sleepUntil) this.#sleep?.abort();
  }

  async #loop(): Promise<void> {
    const clock = this.#o.clock;
    while (!this.#stop.signal.aborted) {
      const now = clock.now();
      for (let top = this.#heap[0]; top !== undefined && top.at <= now; top = this.#heap[0]) {
        this.#pop();
        const e = top.entry;
        if (top.seq !== e.seq || this.#entries.get(e.k) !== e) continue;
        this.#due(e, now);
      }
      const next = this.#heap[0]?.at ?? Number.POSITIVE_INFINITY;
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
  #due(e: Entry, now: number): void {
    if (e.busy) return;
    const plan = this.#plan(e, now);
    if (!plan.inUse && plan.idleLifetimeMs === undefined) {
      this.#entries.delete(e.k);
      return;
    }
    if (e.rec !== undefined && now < aheadDueAt(e.rec, plan, e.fraction)) {
      this.#reschedule(e, now);
      return;
    }
    this.#dispatch(e);
  }

  /** Starts the entry's refresh, or queues it behind its provider's background limit or pause. */
  #dispatch(e: Entry): void {
    e.busy = true;
    const p = e.key.providerId;
    const now = this.#o.clock.now();
    if ((this.#running.get(p) ?? 0) >= this.#limit(p) || (this.#pausedUntil.get(p) ?? 0) > now) {
      const q = this.#queued.get(p) ?? [];
      q.push(e);
      this.#queued.set(p, q);
      return;
    }
    this.#run(e);
  }

  /**
   * Background refreshes per provider at once: half its concurrency limit
   * (at least one), so callers whose token can no longer satisfy them always
   * find a slot of the provider's gate (§3 invariant 9) without waiting
   * behind refreshes that could wait.
   */
  #limit(providerId: string): number {
    const entry = this.#o.providers.get(providerId);
    return entry === undefined ? 1 : Math.max(1, Math.ceil(entry.gate.limit / 2));
  }

  #run(e: Entry): void {
    const p = e.key.providerId;
    this.#running.set(p, (this.#running.get(p) ?? 0) + 1);
    const now = this.#o.clock.now();
    this.#o
      .refresh(e.key, this.#plan(e, now))
      .then(
        ({ record, sent }) => {
          this.#o.events.refreshedAhead(e.key, sent ? "REFRESHED" : "NOT_NEEDED");
          e.failures = 0;
          e.notBefore = 0;
          this.#learn(e, record);
          e.busy = false;
          this.#reschedule(e, this.#o.clock.now());
        },
        (err: unknown) => {
          e.busy = false;
          this.#failed(e, err);
        },
      )
      .finally(() => {
        this.#running.set(p, (this.#running.get(p) ?? 1) - 1);
        this.#pump(p);
      });
  }

  #learn(e: Entry, rec: LinkRecord): void {
    if (rec.version === e.version) return;
    e.version = rec.version;
    e.rec = { expiresAt: rec.expiresAt, lastRefreshedAt: rec.lastRefreshedAt, updatedAt: rec.updatedAt, accessToken: rec.accessToken };
    e.fraction = AHEAD_EARLIEST + (AHEAD_LATEST - AHEAD_EARLIEST) * this.#o.random();
  }

  /** A background refresh failed: callers keep the current token; the link is tried again later, or dropped when it needs re-linking. */
  #failed(e: Entry, err: unknown): void {
    const now = this.#o.clock.now();
    const reason = err instanceof BrokerError ? err.reason : Reason.INTERNAL;
    this.#o.events.refreshedAhead(e.key, reason as AheadOutcome);
    switch (reason) {
      case Reason.LINK_NOT_FOUND:
      case Reason.REAUTH_REQUIRED:
      case Reason.PROVIDER_NOT_FOUND:
      case Reason.DECRYPT_FAILED:
      case Reason.MIN_VALIDITY_UNREACHABLE:
        this.#entries.delete(e.k);
        e.seq = -1;
        return;
      default:
        break;
    }
    const retryAfter = err instanceof BrokerError ? err.detail.retryAfterMs : undefined;
    const backoff = Math.min(MAX_RETRY_MS, FIRST_RETRY_MS * 2 ** Math.min(e.failures, 16));
    e.failures++;
    const wait = Math.max(retryAfter ?? 0, backoff) * (1 + 0.2 * this.#o.random());
    if (reason === Reason.PROVIDER_RATE_LIMITED || reason === Reason.PROVIDER_UNAVAILABLE || reason === Reason.PROVIDER_MISCONFIGURED) {
      // The provider's limit or outage holds every background refresh of it back, not only this link's.
      const until = now + Math.max(retryAfter ?? 0, FIRST_RETRY_MS);
      this.#pausedUntil.set(e.key.providerId, Math.max(this.#pausedUntil.get(e.key.providerId) ?? 0, until));
    }
    if (err instanceof BrokerError) this.#o.log.info({ provider: e.key.providerId, user: e.key.userId, reason, retryInMs: Math.round(wait) }, "background refresh failed; callers keep the current token");
    else this.#o.log.error({ provider: e.key.providerId, user: e.key.userId, err: { message: String(err) } }, "background refresh failed unexpectedly");
    e.notBefore = now + wait;
    this.#reschedule(e, now, now + wait);
  }

  /** Starts queued refreshes of a provider while it has room and is not paused. */
  #pump(providerId: string): void {
    const q = this.#queued.get(providerId);
    if (q === undefined || q.length === 0) return;
    const now = this.#o.clock.now();
    const paused = this.#pausedUntil.get(providerId) ?? 0;
    if (paused > now) {
      if (!this.#stop.signal.aborted) void this.#o.clock.sleep(paused - now, this.#stop.signal).then(() => this.#pump(providerId), () => undefined);
      return;
    }
    while (q.length > 0 && (this.#running.get(providerId) ?? 0) < this.#limit(providerId)) {
      const e = q.shift() as Entry;
      if (this.#entries.get(e.k) !== e || this.#stop.signal.aborted) {
        e.busy = false;
        continue;
      }
      this.#run(e);
    }
  }

  /** Every so often, the links of an idle-lifetime provider whose refresh token is getting old. */
  async #scanLoop(providerId: string, idleMs: number): Promise<void> {
    const every = Math.min(3_600_000, Math.max(1_000, idleMs / 10));
    while (!this.#stop.signal.aborted) {
      try {
        await this.#scan(providerId, idleMs, every);
      } catch (err) {
        this.#o.log.warn({ provider: providerId, err: { message: String(err) } }, "listing links for keep-alive refreshes failed; trying again later");
      }
      await this.#o.clock.sleep(every * (0.9 + 0.2 * this.#o.random()), this.#stop.signal).catch(() => undefined);
    }
  }

  async #scan(providerId: string, idleMs: number, every: number): Promise<void> {
    let after: LinkKey | undefined;
    for (;;) {
      const page = await this.#o.store.list({ providerId, limit: SCAN_PAGE, ...(after !== undefined ? { after } : {}) });
      const now = this.#o.clock.now();
      for (const m of page) {
        if (!m.hasRefreshToken) continue;
        const from = m.lastRefreshedAt ?? m.updatedAt;
        // Only those due before the next scan: the others are looked at again then.
        if (from + idleMs * AHEAD_LATEST > now + every) continue;
        const k = linkKeyId(m);
        if (this.#entries.has(k)) continue;
        const e: Entry = {
          key: { providerId: m.providerId, userId: m.userId },
          k,
          lastUsedAt: Number.NEGATIVE_INFINITY,
          holds: 0,
          minValidMs: 0,
          minValidAt: now,
          version: m.version,
          fraction: AHEAD_EARLIEST + (AHEAD_LATEST - AHEAD_EARLIEST) * this.#o.random(),
          rec: { expiresAt: m.expiresAt, lastRefreshedAt: m.lastRefreshedAt, updatedAt: m.updatedAt, accessToken: "x" },
          dueAt: Number.POSITIVE_INFINITY,
          seq: 0,
          busy: false,
          failures: 0,
          notBefore: 0,
        };
        this.#entries.set(k, e);
        this.#reschedule(e, now);
      }
      if (page.length < SCAN_PAGE) return;
      const last = page[page.length - 1] as LinkKey;
      after = { providerId: last.providerId, userId: last.userId };
    }
  }

  #push(item: Item): void {
    const h = this.#heap;
    h.push(item);
    let i = h.length - 1;
    while (i > 0) {
      const parent = (i - 1) >> 1;
      if ((h[parent] as Item).at <= item.at) break;
      h[i] = h[parent] as Item;
      i = parent;
    }
    h[i] = item;
  }

  #pop(): void {
    const h = this.#heap;
    const last = h.pop() as Item;
    if (h.length === 0) return;
    let i = 0;
    for (;;) {
      const l = 2 * i + 1;
      const r = l + 1;
      let m = l;
      if (l >= h.length) break;
      if (r < h.length && (h[r] as Item).at < (h[l] as Item).at) m = r;
      if ((h[m] as Item).at >= last.at) break;
      h[i] = h[m] as Item;
      i = m;
    }
    h[i] = last;
  }
}
