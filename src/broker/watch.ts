import type { CallScope } from "../audit/call-scope.js";
import { BrokerError, Reason, domainError, linkNotFound, reauthRecorded, refreshInProgress } from "../errors/index.js";
import type { LinkKey, LinkRecord, LinkStore } from "../store/link-store.js";
import type { Clock } from "./clock.js";
import type { RefreshEngine } from "./engine.js";
import { StoppedWaiting } from "./race-signal.js";

/**
 * WatchAccessToken's engine side (docs/design.md §3.5): a stream of a
 * link's states. Each state is the whole truth — the token, a generation
 * that increases whenever the token changes, and whether refreshing it
 * ahead of time is failing. The watch makes sure on its own that a fresh
 * token exists before the current one drops below `min_valid_for`: at the
 * time `planWatch` names it asks the engine's ordinary obtain path (locks,
 * leases, compare-and-swap, every fault rule), so several watchers in
 * several processes or hosts share one refresh per rotation. Changes made
 * elsewhere (another process's refresh, a re-link, an unlink) are seen
 * through the store: `LinkStore.changed` where the store announces them
 * (PostgreSQL LISTEN/NOTIFY), else by reading the row every `pollMs`
 * (SQLite: a cached read costs one `PRAGMA data_version`).
 */

export interface WatchState {
  record: LinkRecord;
  /** Increases whenever the token changes; repeated when only `failing` changes. */
  generation: number;
  /** Set while refreshing ahead fails transiently: what the unary call would answer. */
  failing?: BrokerError | undefined;
}

/** When a watch must act on the token it holds (epoch ms; undefined: never, the token does not expire). */
export interface WatchPlan {
  /** Start refreshing at this time, leaving `lead` for the refresh itself. */
  refreshAt: number | undefined;
  /** The next token must be delivered before this: after it the current one is valid for less than min_valid_for. */
  mustHaveBy: number | undefined;
}

/** The least and most time kept for a refresh before the current token stops satisfying min_valid_for. */
export const MIN_LEAD_MS = 1_000;
export const MAX_LEAD_MS = 5 * 60_000;
/** The share of a token's usable window (its lifetime less min_valid_for) kept for refreshing. */
export const LEAD_FRACTION = 0.25;

/**
 * Pure: when to refresh a token that expires at `expiresAt` and lived
 * `lifetimeMs` when issued, for a watcher asking `minValidMs`. The usable
 * window is lifetime − min_valid_for; a quarter of it (1 s to 5 min, never
 * more than the window itself) is kept before `mustHaveBy` for the refresh.
 */
export function planWatch(expiresAt: number | null, lifetimeMs: number, minValidMs: number): WatchPlan {
  if (expiresAt === null) return { refreshAt: undefined, mustHaveBy: undefined };
  const mustHaveBy = expiresAt - minValidMs;
  const window = Math.max(0, lifetimeMs - minValidMs);
  const lead = Math.min(window, Math.min(MAX_LEAD_MS, Math.max(MIN_LEAD_MS, window * LEAD_FRACTION)));
  return { refreshAt: mustHaveBy - lead, mustHaveBy };
}

/** How long the token lived when issued (or stored): the commit or write time is moments after issue. */
export function lifetimeOf(rec: Pick<LinkRecord, "expiresAt" | "lastRefreshedAt" | "updatedAt">): number {
  if (rec.expiresAt === null) return 0;
  return Math.max(0, rec.expiresAt - (rec.lastRefreshedAt ?? rec.updatedAt));
}

/** The least and most time between two retries while refreshing ahead fails. */
export const MIN_RETRY_MS = 250;
export const MAX_RETRY_MS = 30_000;

/**
 * Pure: what a watch holding `rec` does at `now`. "refresh": ask the engine
 * (`minValidMs` is what to ask for: more than the token has left, so a
 * refresh runs unless another process already made a newer token; or
 * exactly the watcher's min_valid_for once the token no longer has it, the
 * unary call's question, whose failure ends the stream). "wait": look for
 * changes until `untilMs` at the latest.
 */
export function nextStep(
  rec: Pick<LinkRecord, "expiresAt" | "lastRefreshedAt" | "updatedAt">,
  minValidMs: number,
  now: number,
  retryAt: number | undefined,
): { kind: "refresh"; minValidMs: number; final: boolean } | { kind: "wait"; untilMs: number | undefined } {
  const plan = planWatch(rec.expiresAt, lifetimeOf(rec), minValidMs);
  if (plan.refreshAt === undefined || plan.mustHaveBy === undefined || rec.expiresAt === null) return { kind: "wait", untilMs: undefined };
  if (now >= plan.mustHaveBy) return { kind: "refresh", minValidMs, final: true };
  const due = retryAt === undefined ? plan.refreshAt : Math.min(retryAt, plan.mustHaveBy);
  if (now >= due) return { kind: "refresh", minValidMs: rec.expiresAt - now + 1, final: false };
  return { kind: "wait", untilMs: due };
}

/** Whether a failure of refreshing ahead lets the current token keep flowing (the provider or the store may come back). */
export function isTransient(err: BrokerError): boolean {
  switch (err.reason) {
    case Reason.PROVIDER_UNAVAILABLE:
    case Reason.PROVIDER_RATE_LIMITED:
    case Reason.STORE_UNAVAILABLE:
    case Reason.REFRESH_INTERRUPTED:
    case Reason.PROVIDER_MISCONFIGURED:
    case Reason.DEADLINE_EXCEEDED:
      return true;
    default:
      return false;
  }
}

/**
 * The one call that tells the engine "a watch uses this link" (its
 * background refresh keeps links in use fresh, docs/design.md §3.4);
 * called when a watch starts and whenever it looks at the link.
 */
export function linkInUseByWatch(engine: RefreshEngine, key: LinkKey, minValidMs: number): void {
  // Each look renews the mark, so keep_fresh_for counts from the stream's last look (§3.4).
  engine.noteUse(key, minValidMs);
}

/** How often a watch reads the row where the store does not announce changes. */
export const POLL_MS = 500;
/** Where it does (NOTIFY is not durable), how long it waits for an announcement at most. */
export const NOTIFIED_POLL_MS = 2_000;

export interface WatchOptions {
  engine: RefreshEngine;
  store: LinkStore;
  clock: Clock;
  key: LinkKey;
  minValidMs: number;
  /** The stream's end: the caller went away, its deadline passed, or shutdown. */
  signal: AbortSignal;
  /** The stream's audit scope, the cause of the refreshes it starts (so their lines name its caller). */
  cause?: CallScope | undefined;
  pollMs?: number;
}

/**
 * The states of one watched link, first the current one at once. Ends by
 * throwing: the unary call's error (unlink, a permanent failure, a token
 * that can no longer satisfy min_valid_for while the provider fails), or
 * the abort reason of `signal`.
 */
export async function* watchLink(opts: WatchOptions): AsyncGenerator<WatchState, never> {
  const { engine, store, clock, key, minValidMs, signal } = opts;
  const pollMs = opts.pollMs ?? (store.changed === undefined ? POLL_MS : NOTIFIED_POLL_MS);
  linkInUseByWatch(engine, key, minValidMs);
  let rec = await engine.obtain(key, minValidMs, signal, undefined, opts.cause);
  let generation = rec.version;
  let failing: BrokerError | undefined;
  let retryAt: number | undefined;
  yield { record: rec, generation };

  const adopt = (next: LinkRecord): boolean => {
    if (next.accessToken === rec.accessToken && next.expiresAt === rec.expiresAt) {
      rec = next;
      return false;
    }
    rec = next;
    generation = Math.max(generation + 1, next.version);
    failing = undefined;
    retryAt = undefined;
    return true;
  };

  for (;;) {
    signal.throwIfAborted();
    linkInUseByWatch(engine, key, minValidMs);
    const step = nextStep(rec, minValidMs, clock.now(), retryAt);
    if (step.kind === "wait") {
      const waitMs = Math.max(0, Math.min(pollMs, (step.untilMs ?? Number.POSITIVE_INFINITY) - clock.now()));
      if (waitMs > 0) await waitForChange(store, clock, key, waitMs, signal);
      signal.throwIfAborted();
      const seen = await readRow(store, key);
      if (seen === "unavailable") continue;
      // A failure recorded elsewhere: the unary call would answer REAUTH_REQUIRED as soon as it needs a refresh; so does the stream, at once.
      if (seen.refreshToken === null && seen.refreshFailure !== null) throw reauthRecorded(seen.refreshFailure);
      if (adopt(seen)) yield { record: rec, generation };
      continue;
    }
    try {
      const ask = step.minValidMs;
      const patience = step.final ? Math.max(MIN_LEAD_MS, ((rec.expiresAt ?? clock.now()) - clock.now()) / 2) : Math.max(MIN_LEAD_MS, (rec.expiresAt ?? 0) - minValidMs - clock.now());
      const got = await withPatience(signal, patience, (attempt) => engine.obtain(key, ask, attempt, undefined, opts.cause));
      const changed = adopt(got);
      if (changed) yield { record: rec, generation };
      else if (failing !== undefined) {
        failing = undefined;
        retryAt = undefined;
        yield { record: rec, generation };
      }
    } catch (err) {
      signal.throwIfAborted();
      const known = err instanceof StoppedWaiting ? refreshInProgress(key.providerId) : domainError(err, key);
      if (!(known instanceof BrokerError) || step.final || !isTransient(known)) throw known;
      const now = clock.now();
      retryAt = now + Math.min(MAX_RETRY_MS, Math.max(MIN_RETRY_MS, known.detail.retryAfterMs ?? MIN_RETRY_MS));
      const news = failing === undefined || failing.reason !== known.reason;
      failing = known;
      if (news) yield { record: rec, generation, failing };
    }
  }
}

/**
 * Runs `work` with a signal that aborts with the stream's or after
 * `patienceMs`, whichever comes first (a refresh outliving it runs on and is
 * stored). Its own timer, not AbortSignal.timeout: AbortSignal.any holds its
 * sources weakly, and a collected timeout never fires.
 */
async function withPatience<T>(signal: AbortSignal, patienceMs: number, work: (attempt: AbortSignal) => Promise<T>): Promise<T> {
  const attempt = new AbortController();
  const onAbort = (): void => attempt.abort(signal.reason);
  signal.addEventListener("abort", onAbort, { once: true });
  const timer = setTimeout(() => attempt.abort(), patienceMs);
  try {
    return await work(attempt.signal);
  } finally {
    clearTimeout(timer);
    signal.removeEventListener("abort", onAbort);
  }
}

async function readRow(store: LinkStore, key: LinkKey): Promise<LinkRecord | "unavailable"> {
  let rec: LinkRecord | undefined;
  try {
    rec = await store.get(key);
  } catch (err) {
    const known = domainError(err, key);
    // The store may come back before the token needs it; the refresh step judges it then.
    if (known instanceof BrokerError && known.reason === Reason.STORE_UNAVAILABLE) return "unavailable";
    throw known;
  }
  if (rec === undefined) throw linkNotFound(key);
  return rec;
}

/** Until the store announces a change to the key, `ms` passed, or the stream ended. */
async function waitForChange(store: LinkStore, clock: Clock, key: LinkKey, ms: number, signal: AbortSignal): Promise<void> {
  if (store.changed === undefined) {
    await clock.sleep(ms, signal).catch(() => undefined);
    return;
  }
  const stop = new AbortController();
  const aborted = new Promise<void>((resolve) => {
    if (signal.aborted) resolve();
    signal.addEventListener("abort", () => resolve(), { once: true, signal: stop.signal });
  });
  await Promise.race([store.changed(key, ms), aborted]);
  stop.abort();
}

