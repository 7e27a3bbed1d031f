import { AHEAD_LATEST, aheadDueAt, type AheadPlan } from "./ahead.js";

/**
 * Refreshing ahead with a backlog (docs/design.md §3.4, "When"): how early
 * links that come due together must start so that the provider's background
 * slots get through all of them before their deadlines. No clock, no timers,
 * no randomness: the scheduler (proactive.ts) passes `now`, its entries and
 * the provider's slots, and keeps the timers; the planner holds only what it
 * learned (the cost per provider) and which plans are stale.
 *
 * A link's deadline is the end of its useful life (`aheadDueAt` at 1): from
 * then on a caller would have to wait for its own refresh. Alone, a link
 * starts at its jittered 75–80 % and the rest of the useful life is for the
 * refresh itself, as before. Behind it, the links with later deadlines need
 * the slots too: with `slots` refreshes at a time, each taking `costMs`, the
 * k-th link in deadline order must leave its slot by the time the (k+slots)-th
 * must start (an earliest-deadline-first backward pass). A link starts at
 * the earlier of its own due time and that latest start, but never before
 * AHEAD_FLOOR of its useful life.
 */

/**
 * No capacity-aware start before this share of the useful life. Half: a
 * backlog then costs at most one refresh per half life instead of one per
 * three quarters (the provider's load from it at most 1.5×); a backlog
 * that needs more than half the useful life is one the background slots
 * cannot keep up with (starting still earlier would only refresh each link
 * more often, adding to it: the answer is more provider_concurrency); and a
 * token another host refreshed meanwhile is younger than half its life, so
 * the engine's judgement at this edge (`AheadPlan.earliest`) still leaves
 * it alone.
 */
export const AHEAD_FLOOR = 0.5;

/** The learned cost is stretched by this much: a refresh under a backlog can take longer than those measured so far. */
export const COST_MARGIN = 1.25;

/**
 * The cost assumed before any background refresh of the provider has been
 * measured: a provider round trip and two store commits, on the slow side
 * (about twice what a provider answering in 150 ms costs). Too high starts a
 * burst that would fit earlier than it needs to (never before the floor, and
 * a lone link not at all); too low lets the first wave's links pass their
 * deadline. The first measurement replaces it.
 */
export const INITIAL_COST_MS = 400;

/** Weight of a new measurement in the running mean. */
const LEARN_WEIGHT = 0.2;

/** The provider's mean background refresh duration after one more measurement (`prev` undefined: none yet, the guess is dropped). */
export function learnCost(prev: number | undefined, sampleMs: number): number {
  const sample = Math.max(0, sampleMs);
  return prev === undefined ? sample : prev + LEARN_WEIGHT * (sample - prev);
}

/** One link waiting for its background refresh: its deadline, and the latest it starts on its own (its due time at AHEAD_LATEST). */
export interface Pending {
  deadline: number;
  ownLatest: number;
}

/**
 * For `pending` sorted by deadline (ascending), the latest start each one
 * must keep so that those after it still start by theirs: entry k leaves its
 * slot `cost` later, when entry k+slots must start. Infinity where nobody
 * behind it needs the slot (the link's own due time governs). `cost` is the
 * learned mean stretched by COST_MARGIN. O(n).
 */
export function latestStarts(pending: readonly Pending[], slots: number, meanCostMs: number): Float64Array {
  const n = pending.length;
  const s = Math.max(1, Math.floor(slots));
  const cost = Math.max(0, meanCostMs) * COST_MARGIN;
  const behind = new Float64Array(n).fill(Number.POSITIVE_INFINITY);
  // latest[k] = min(own latest of k, behind[k]); behind[k] = latest[k + slots] − cost.
  const latest = new Float64Array(n);
  for (let k = n - 1; k >= 0; k--) {
    if (k + s < n) behind[k] = (latest[k + s] as number) - cost;
    latest[k] = Math.min((pending[k] as Pending).ownLatest, behind[k] as number);
  }
  return behind;
}

/**
 * When a link is started: its own jittered due time, or earlier when the
 * backlog behind it needs it (`latest`), never before the floor. With no
 * backlog (`latest` Infinity or later than `due`) exactly `due`.
 */
export function capacityStart(due: number, latest: number, floorAt: number): number {
  if (!(latest < due)) return due;
  return Math.max(floorAt, latest);
}

/** A link as the planner sees it: its deadline and own latest start in, its latest start for the backlog out. */
export interface Planned extends Pending {
  latest: number;
  /** The deadline it had in its provider's last plan (NaN: in none); the planner's own. */
  planned: number;
}

type Timed = Parameters<typeof aheadDueAt>[0];

/**
 * Sets the link's deadline (the end of its useful life) and own latest start
 * from its token `rec` and `plan`. A changed deadline forgets the latest start
 * (made for the old one) until the next plan; returns whether the link now
 * has a new finite deadline, which makes its provider's plan stale.
 */
export function setDeadline(item: Planned, rec: Timed | undefined, plan: AheadPlan): boolean {
  const deadline = rec === undefined ? Number.POSITIVE_INFINITY : aheadDueAt(rec, plan, 1);
  if (deadline === item.deadline) return false;
  item.deadline = deadline;
  item.ownLatest = rec === undefined ? deadline : aheadDueAt(rec, plan, AHEAD_LATEST);
  item.latest = Number.POSITIVE_INFINITY;
  return Number.isFinite(deadline);
}

/** When the link's background refresh starts: at its jittered `fraction`, or earlier (capacityStart) when its plan says so. */
export function startAt(item: Planned, rec: Timed, plan: AheadPlan, fraction: number): number {
  const due = aheadDueAt(rec, plan, fraction);
  return item.latest < due ? capacityStart(due, item.latest, aheadDueAt(rec, plan, AHEAD_FLOOR)) : due;
}

/** Replans of a provider are at least this far apart, and a further 1 ms per 20 links (a pass over 100,000 links every second would be a steady cost). */
const REPLAN_MIN_MS = 1_000;
const REPLAN_MS_PER_LINK = 0.05;
/** A cost that moved by more than this share since the last plan makes a new one. */
const COST_CHANGE = 0.25;

/**
 * Per provider: the learned cost of a background refresh, when its plan is
 * to be made again, and its last plan's links in deadline order. Holds no
 * timers and reads no clock (the scheduler passes `now`): a plan is remade
 * when the provider's links changed or its cost moved, at most every
 * REPLAN_MIN_MS, never on each caller's use.
 */
export class CapacityPlanner<T extends Planned> {
  /** The last plan's waiting links by deadline: the next plan keeps those unchanged and merges in the rest, instead of sorting them all again (80 ms for 100,000 links in random order, a stall of every caller). */
  readonly #order = new Map<string, T[]>();
  readonly #cost = new Map<string, number>();
  /** The cost the provider's last plan used. */
  readonly #plannedCost = new Map<string, number>();
  /** Providers whose plan is stale, and the earliest time it may be remade. */
  readonly #stale = new Map<string, number>();
  readonly #nextAllowed = new Map<string, number>();

  /** The mean background refresh duration to plan with. */
  cost(providerId: string): number {
    return this.#cost.get(providerId) ?? INITIAL_COST_MS;
  }

  /** A background refresh of the provider that sent its refresh token took `ms`: returns when its plan will be remade (Infinity: not for this). */
  observe(providerId: string, ms: number, now: number): number {
    const cost = learnCost(this.#cost.get(providerId), ms);
    this.#cost.set(providerId, cost);
    const planned = this.#plannedCost.get(providerId);
    return planned !== undefined && Math.abs(cost - planned) > COST_CHANGE * planned ? this.changed(providerId, now) : Number.POSITIVE_INFINITY;
  }

  /** A link of the provider got a new deadline (or its first): returns when its plan will be remade. */
  changed(providerId: string, now: number): number {
    const stale = this.#stale.get(providerId);
    if (stale !== undefined) return stale;
    const at = Math.max(now, this.#nextAllowed.get(providerId) ?? now);
    this.#stale.set(providerId, at);
    return at;
  }

  /** When the next plan is to be made (Infinity: none stale). */
  get nextAt(): number {
    let next = Number.POSITIVE_INFINITY;
    for (const at of this.#stale.values()) next = Math.min(next, at);
    return next;
  }

  /**
   * Remakes the plans due at `now`: of `all` links, those `waiting` (started
   * not yet) of a provider whose plan is stale get their `latest`; returns
   * the remade plans' links. O(1) when no plan is due, else O(n) and a sort
   * of the links whose deadline changed since the last plan.
   */
  replan(now: number, all: Iterable<T>, providerOf: (item: T) => string, waiting: (item: T) => boolean, slots: (providerId: string) => number): T[][] {
    const added = new Map<string, T[]>();
    for (const [id, at] of this.#stale) if (at <= now) added.set(id, []);
    if (added.size === 0) return [];
    for (const item of all) {
      const list = added.get(providerOf(item));
      if (list === undefined) continue;
      if (!waiting(item) || !Number.isFinite(item.deadline)) item.planned = Number.NaN;
      // In the last plan with the same deadline: found in its order below (marked meanwhile).
      else if (item.planned === item.deadline) item.planned = Number.NEGATIVE_INFINITY;
      else {
        item.planned = item.deadline;
        list.push(item);
      }
    }
    const plans: T[][] = [];
    for (const [providerId, fresh] of added) {
      const kept: T[] = [];
      for (const item of this.#order.get(providerId) ?? []) {
        if (item.planned !== Number.NEGATIVE_INFINITY) continue;
        item.planned = item.deadline;
        kept.push(item);
      }
      const order = merge(kept, fresh.sort(byDeadline));
      this.#order.set(providerId, order);
      this.#plan(providerId, order, slots(providerId), now);
      plans.push(order);
    }
    return plans;
  }

  /** Sets each link's `latest` for the provider's backlog: `items` waiting (not yet started), by deadline. */
  #plan(providerId: string, items: readonly T[], slots: number, now: number): void {
    const cost = this.cost(providerId);
    this.#stale.delete(providerId);
    this.#plannedCost.set(providerId, cost);
    this.#nextAllowed.set(providerId, now + REPLAN_MIN_MS + items.length * REPLAN_MS_PER_LINK);
    const latest = latestStarts(items, slots, cost);
    let backlog = false;
    for (let i = 0; i < items.length; i++) {
      const item = items[i] as T;
      item.latest = latest[i] as number;
      // Before its 75 % mark (its own latest less a quarter of what is left after it): not a burst the window absorbs.
      backlog ||= item.latest < item.ownLatest - (item.deadline - item.ownLatest) / 4;
    }
    // The cost is still a guess and a backlog needs starting early: the first link starts at its floor, so its
    // answer teaches the cost (and remakes the plan) before the wave is under way, not once it is late.
    if (backlog && !this.#cost.has(providerId)) (items[0] as T).latest = Number.NEGATIVE_INFINITY;
  }
}

const byDeadline = (a: Pending, b: Pending): number => a.deadline - b.deadline;

/** Two lists sorted by deadline, as one. */
function merge<T extends Pending>(a: readonly T[], b: readonly T[]): T[] {
  if (b.length === 0) return a.slice();
  const out: T[] = new Array<T>(a.length + b.length);
  let i = 0;
  let j = 0;
  for (let k = 0; k < out.length; k++) out[k] = j >= b.length || (i < a.length && (a[i] as T).deadline <= (b[j] as T).deadline) ? (a[i++] as T) : (b[j++] as T);
  return out;
}
