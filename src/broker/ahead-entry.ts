import type { LinkKey } from "../store/link-store.js";
import type { Planned } from "./ahead-capacity.js";
import { AHEAD_LATEST, type Timed } from "./ahead.js";
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

/** A new entry's numbers: no record version or times yet, nothing scheduled, not busy. */
const NEW_F64 = new Float64Array(F64_STRIDE);
NEW_F64.fill(Number.POSITIVE_INFINITY, DEADLINE, PLANNED);
NEW_F64[VERSION] = -1;
NEW_F64[FRACTION] = AHEAD_LATEST;
NEW_F64[EXPIRES_AT] = Number.NaN;
NEW_F64[LAST_REFRESHED_AT] = Number.NaN;
NEW_F64[DUE_AT] = Number.POSITIVE_INFINITY;
NEW_F64[PLANNED] = Number.NaN;
const NEW_I32 = new Int32Array(I32_STRIDE);
NEW_I32[HEAP_INDEX] = -1;

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
  ) {
    this.#table = table;
    const row = table.take(this);
    this.#f = row * F64_STRIDE;
    this.#i = row * I32_STRIDE;
    table.f64.set(NEW_F64, this.#f);
    table.i32.set(NEW_I32, this.#i);
    this.lastUsedAt = lastUsedAt;
    this.minValidMs = minValidMs;
    this.minValidAt = now;
  }

  /** When a caller last asked (engine clock); -Infinity for a link known only from the idle scan. */
  get lastUsedAt(): number {
    return this.#num(LAST_USED_AT);
  }
  set lastUsedAt(v: number) {
    this.#setNum(LAST_USED_AT, v);
  }
  /** The largest min_valid_for asked within keep_fresh_for, and when. */
  get minValidMs(): number {
    return this.#num(MIN_VALID_MS);
  }
  set minValidMs(v: number) {
    this.#setNum(MIN_VALID_MS, v);
  }
  get minValidAt(): number {
    return this.#num(MIN_VALID_AT);
  }
  set minValidAt(v: number) {
    this.#setNum(MIN_VALID_AT, v);
  }
  /** The record version the schedule was computed from (-1: none yet). */
  get version(): number {
    return this.#num(VERSION);
  }
  set version(v: number) {
    this.#setNum(VERSION, v);
  }
  /** This version's jittered fraction of the lifetime. */
  get fraction(): number {
    return this.#num(FRACTION);
  }
  set fraction(v: number) {
    this.#setNum(FRACTION, v);
  }
  get expiresAt(): number | null {
    return nullable(this.#num(EXPIRES_AT));
  }
  set expiresAt(v: number | null) {
    this.#setNum(EXPIRES_AT, v ?? Number.NaN);
  }
  get lastRefreshedAt(): number | null {
    return nullable(this.#num(LAST_REFRESHED_AT));
  }
  set lastRefreshedAt(v: number | null) {
    this.#setNum(LAST_REFRESHED_AT, v ?? Number.NaN);
  }
  get updatedAt(): number {
    return this.#num(UPDATED_AT);
  }
  set updatedAt(v: number) {
    this.#setNum(UPDATED_AT, v);
  }
  get dueAt(): number {
    return this.#num(DUE_AT);
  }
  set dueAt(v: number) {
    this.#setNum(DUE_AT, v);
  }
  /** No advisory start before this (after a failure). */
  get notBefore(): number {
    return this.#num(NOT_BEFORE);
  }
  set notBefore(v: number) {
    this.#setNum(NOT_BEFORE, v);
  }
  get deadline(): number {
    return this.#num(DEADLINE);
  }
  set deadline(v: number) {
    this.#setNum(DEADLINE, v);
  }
  get ownLatest(): number {
    return this.#num(OWN_LATEST);
  }
  set ownLatest(v: number) {
    this.#setNum(OWN_LATEST, v);
  }
  get latest(): number {
    return this.#num(LATEST);
  }
  set latest(v: number) {
    this.#setNum(LATEST, v);
  }
  get planned(): number {
    return this.#num(PLANNED);
  }
  set planned(v: number) {
    this.#setNum(PLANNED, v);
  }
  /** Open watches holding it in use. */
  get holds(): number {
    return this.#int(HOLDS);
  }
  set holds(v: number) {
    this.#setInt(HOLDS, v);
  }
  /** Its slot in the schedule (due-heap.ts); -1 while not scheduled. */
  get heapIndex(): number {
    return this.#int(HEAP_INDEX);
  }
  set heapIndex(v: number) {
    this.#setInt(HEAP_INDEX, v);
  }
  /** Consecutive failed background refreshes (backoff). */
  get failures(): number {
    return this.#int(FAILURES);
  }
  set failures(v: number) {
    this.#setInt(FAILURES, v);
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

  #num(field: number): number {
    return this.#table.f64[this.#f + field] as number;
  }
  #setNum(field: number, v: number): void {
    this.#table.f64[this.#f + field] = v;
  }
  #int(field: number): number {
    return this.#table.i32[this.#i + field] as number;
  }
  #setInt(field: number, v: number): void {
    this.#table.i32[this.#i + field] = v;
  }
  #flag(bit: number): boolean {
    return (this.#int(FLAGS) & bit) !== 0;
  }
  #setFlag(bit: number, on: boolean): void {
    const flags = this.#int(FLAGS);
    this.#setInt(FLAGS, on ? flags | bit : flags & ~bit);
  }
}
