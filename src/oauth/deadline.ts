/**
 * How long an expired deadline waits before it acts. It only has to outlast
 * one turn of the event loop (timers run before the poll phase reads
 * sockets); the rest is slack for a loaded machine.
 */
export const DEADLINE_GRACE_MS = 100;

/**
 * A timeout that bounds waiting, not reading (docs/design.md §3 invariant 15).
 * When it expires it does not act at once: it first lets the event loop run
 * for `graceMs`, so I/O that is already pending gets read. A process that was
 * paused past the deadline (SIGSTOP, a long GC pause, a blocked loop) resumes
 * with the answer in its socket buffer, and Node runs expired timers before
 * it polls sockets; acting then would throw away an answer that arrived in
 * time — from a token endpoint, possibly a rotated refresh token. The owner
 * cancels the deadline when what it waited for arrives, also during the grace.
 */
export class Deadline {
  readonly #onExpire: () => void;
  readonly #graceMs: number;
  #timer: NodeJS.Timeout | undefined;
  #expired = false;

  constructor(onExpire: () => void, graceMs = DEADLINE_GRACE_MS) {
    this.#onExpire = onExpire;
    this.#graceMs = graceMs;
  }

  /** (Re)arms the deadline `ms` from now, replacing any earlier one. */
  start(ms: number): void {
    this.cancel();
    this.#expired = false;
    this.#timer = setTimeout(() => {
      // Scheduled from the timers phase, this runs after at least one poll phase.
      this.#timer = setTimeout(() => {
        this.#timer = undefined;
        this.#expired = true;
        this.#onExpire();
      }, this.#graceMs);
    }, ms);
  }

  cancel(): void {
    if (this.#timer !== undefined) clearTimeout(this.#timer);
    this.#timer = undefined;
  }

  /** Whether it has expired and acted. */
  get expired(): boolean {
    return this.#expired;
  }
}
