import type { LinkKey } from "../store/link-store.js";
import type { Planned } from "./ahead-capacity.js";
import type { Timed } from "./ahead.js";
import type { Due } from "./due-heap.js";

/**
 * A link the background refresher keeps fresh or alive (proactive.ts). Its
 * numbers live in a row of typed arrays its table shares with every other
 * entry, not in fields of its own: V8 boxes every double-valued field of an
 * object as a 16-byte heap number of its own, and the 23-field entries with
 * eleven such numbers held about 38 MB of the live heap at 100,000 links in
 * use (a heap snapshot of the bench's scale scenario), which V8's growth
 * headroom made about 120-160 MB of RSS (the scale scenario with and without
 * refreshing ahead). An entry object keeps its ids and its row.
 *
 * A row is reused only once its entry was collected. Entries outlive their
 * place in the schedule: the planner's last order, a provider's queue, a
 * running refresh's callbacks and a watch's release all write to an entry
 * after it may have been dropped, so a row freed on drop could be written by
 * an entry that no longer owns it. A FinalizationRegistry gives it back
 * instead, which no code path can get wrong.
 */

// Rows of doubles (times, the schedule's numbers): field offsets within a row.
const LAST_USED_AT = 0;
const MIN_VALID_MS = 1;
const MIN_VALID_AT = 2;
const VERSION = 3;
const FRACTION = 4;
const EXPIRES_AT = 5;
const LAST_REFRESHED_AT = 6;
const UPDATED_AT = 7;
const DUE_AT = 8;
const NOT_BEFORE = 9;
const DEADLINE = 10;
const OWN_LATEST = 11;
const LATEST = 12;
const PLANNED = 13;
const F64_STRIDE = 14;
// Rows of small integers.
const HOLDS = 0;
const HEAP_INDEX = 1;
const FAILURES = 2;
const FLAGS = 3;
const I32_STRIDE = 4;
const TIMED = 1;
const BUSY = 2;

const FIRST_ROWS = 64;

/** The rows every entry of one scheduler keeps its numbers in. */
export class AheadTable {
  f64 = new Float64Array(FIRST_ROWS * F64_STRIDE);
  i32 = new Int32Array(FIRST_ROWS * I32_STRIDE);
  #rows = FIRST_ROWS;
  #used = 0;
  readonly #free: number[] = [];
  readonly #collected = new FinalizationRegistry<number>((row) => this.#free.push(row));

  /** A row for `entry`, taken back once `entry` is collected. */
  take(entry: AheadEntry): number {
    let row = this.#free.pop();
    if (row === undefined) {
      if (this.#used === this.#rows) this.#grow();
      row = this.#used++;
    }
    this.#collected.register(entry, row);
    return row;
  }

  /** Rows in use or waiting for their entry to be collected (tests). */
  get rows(): number {
    return this.#used - this.#free.length;
  }

  #grow(): void {
    // By half, not doubling: at 100,000 links the slack is about 6 MB rather than up to 13.
    const rows = Math.ceil(this.#rows * 1.5);
    const f64 = new Float64Array(rows * F64_STRIDE);
    f64.set(this.f64);
    const i32 = new Int32Array(rows * I32_STRIDE);
    i32.set(this.i32);
    this.f64 = f64;
    this.i32 = i32;
    this.#rows = rows;
  }
}

/** NaN stands for null in the two nullable times (neither is ever NaN). */
function nullable(v: number): number | null {
  return Number.isNaN(v) ? null : v;
}

export class AheadEntry implements Planned, LinkKey, Timed, Due {
  readonly #table: AheadTable;
  readonly #f: number;
  readonly #i: number;

  /** A new entry: in use from `lastUsedAt` (-Infinity: known only from the idle scan), nothing scheduled yet. */
  constructor(
    table: AheadTable,
    readonly providerId: string,
    readonly userId: string,
    lastUsedAt: number,
    minValidMs: number,
    now: number,
    fraction: number,
  ) {
    this.#table = table;
    const row = table.take(this);
    this.#f = row * F64_STRIDE;
    this.#i = row * I32_STRIDE;
    const inf = Number.POSITIVE_INFINITY;
    const f = table.f64;
    const b = this.#f;
    f[b + LAST_USED_AT] = lastUsedAt;
    f[b + MIN_VALID_MS] = minValidMs;
    f[b + MIN_VALID_AT] = now;
    f[b + VERSION] = -1;
    f[b + FRACTION] = fraction;
    f[b + EXPIRES_AT] = Number.NaN;
    f[b + LAST_REFRESHED_AT] = Number.NaN;
    f[b + UPDATED_AT] = 0;
    f[b + DUE_AT] = inf;
    f[b + NOT_BEFORE] = 0;
    f[b + DEADLINE] = inf;
    f[b + OWN_LATEST] = inf;
    f[b + LATEST] = inf;
    f[b + PLANNED] = Number.NaN;
    const i = table.i32;
    i[this.#i + HOLDS] = 0;
    i[this.#i + HEAP_INDEX] = -1;
    i[this.#i + FAILURES] = 0;
    i[this.#i + FLAGS] = 0;
  }

  /** When a caller last asked (engine clock); -Infinity for a link known only from the idle scan. */
  get lastUsedAt(): number {
    return this.#table.f64[this.#f + LAST_USED_AT] as number;
  }
  set lastUsedAt(v: number) {
    this.#table.f64[this.#f + LAST_USED_AT] = v;
  }
  /** The largest min_valid_for asked within keep_fresh_for, and when. */
  get minValidMs(): number {
    return this.#table.f64[this.#f + MIN_VALID_MS] as number;
  }
  set minValidMs(v: number) {
    this.#table.f64[this.#f + MIN_VALID_MS] = v;
  }
  get minValidAt(): number {
    return this.#table.f64[this.#f + MIN_VALID_AT] as number;
  }
  set minValidAt(v: number) {
    this.#table.f64[this.#f + MIN_VALID_AT] = v;
  }
  /** The record version the schedule was computed from (-1: none yet). */
  get version(): number {
    return this.#table.f64[this.#f + VERSION] as number;
  }
  set version(v: number) {
    this.#table.f64[this.#f + VERSION] = v;
  }
  /** This version's jittered fraction of the lifetime. */
  get fraction(): number {
    return this.#table.f64[this.#f + FRACTION] as number;
  }
  set fraction(v: number) {
    this.#table.f64[this.#f + FRACTION] = v;
  }
  get expiresAt(): number | null {
    return nullable(this.#table.f64[this.#f + EXPIRES_AT] as number);
  }
  set expiresAt(v: number | null) {
    this.#table.f64[this.#f + EXPIRES_AT] = v ?? Number.NaN;
  }
  get lastRefreshedAt(): number | null {
    return nullable(this.#table.f64[this.#f + LAST_REFRESHED_AT] as number);
  }
  set lastRefreshedAt(v: number | null) {
    this.#table.f64[this.#f + LAST_REFRESHED_AT] = v ?? Number.NaN;
  }
  get updatedAt(): number {
    return this.#table.f64[this.#f + UPDATED_AT] as number;
  }
  set updatedAt(v: number) {
    this.#table.f64[this.#f + UPDATED_AT] = v;
  }
  get dueAt(): number {
    return this.#table.f64[this.#f + DUE_AT] as number;
  }
  set dueAt(v: number) {
    this.#table.f64[this.#f + DUE_AT] = v;
  }
  /** No advisory start before this (after a failure). */
  get notBefore(): number {
    return this.#table.f64[this.#f + NOT_BEFORE] as number;
  }
  set notBefore(v: number) {
    this.#table.f64[this.#f + NOT_BEFORE] = v;
  }
  get deadline(): number {
    return this.#table.f64[this.#f + DEADLINE] as number;
  }
  set deadline(v: number) {
    this.#table.f64[this.#f + DEADLINE] = v;
  }
  get ownLatest(): number {
    return this.#table.f64[this.#f + OWN_LATEST] as number;
  }
  set ownLatest(v: number) {
    this.#table.f64[this.#f + OWN_LATEST] = v;
  }
  get latest(): number {
    return this.#table.f64[this.#f + LATEST] as number;
  }
  set latest(v: number) {
    this.#table.f64[this.#f + LATEST] = v;
  }
  get planned(): number {
    return this.#table.f64[this.#f + PLANNED] as number;
  }
  set planned(v: number) {
    this.#table.f64[this.#f + PLANNED] = v;
  }
  /** Open watches holding it in use. */
  get holds(): number {
    return this.#table.i32[this.#i + HOLDS] as number;
  }
  set holds(v: number) {
    this.#table.i32[this.#i + HOLDS] = v;
  }
  /** Its slot in the schedule (due-heap.ts); -1 while not scheduled. */
  get heapIndex(): number {
    return this.#table.i32[this.#i + HEAP_INDEX] as number;
  }
  set heapIndex(v: number) {
    this.#table.i32[this.#i + HEAP_INDEX] = v;
  }
  /** Consecutive failed background refreshes (backoff). */
  get failures(): number {
    return this.#table.i32[this.#i + FAILURES] as number;
  }
  set failures(v: number) {
    this.#table.i32[this.#i + FAILURES] = v;
  }
  /** Whether the times (expiresAt, lastRefreshedAt, updatedAt) are a record's yet. */
  get timed(): boolean {
    return this.#flag(TIMED);
  }
  set timed(v: boolean) {
    this.#setFlag(TIMED, v);
  }
  /** A background refresh of it is running or queued for its provider. */
  get busy(): boolean {
    return this.#flag(BUSY);
  }
  set busy(v: boolean) {
    this.#setFlag(BUSY, v);
  }

  #flag(bit: number): boolean {
    return ((this.#table.i32[this.#i + FLAGS] as number) & bit) !== 0;
  }
  #setFlag(bit: number, on: boolean): void {
    const i = this.#table.i32;
    const at = this.#i + FLAGS;
    i[at] = on ? (i[at] as number) | bit : (i[at] as number) & ~bit;
  }
}
