/**
 * How long an expired deadline waits before it acts: slack for a loaded
 * machine to finish reading an answer it has started to process.
 */
export const DEADLINE_GRACE_MS = 100;

/**
 * A timeout that bounds waiting, not reading (docs/design.md §3 invariant 15).
 * A process that was paused past its deadline (SIGSTOP, a long GC pause, a
 * blocked loop) resumes with the answer in its socket buffer, and Node runs
 * overdue timers before it polls sockets; acting from the timer would throw
 * away an answer that arrived in time — from a token endpoint, possibly a
 * rotated refresh token. So an expired deadline first waits `graceMs`, and
 * then acts from the check phase (setImmediate), which guarantees one more
 * poll of the sockets between the last timer and the action even if the
 * process was paused during the grace too. The owner cancels the deadline
 * when what it waited for arrives.
 */
export class Deadline {
  readonly #onExpire: () => void;
  readonly #graceMs: number;
  #timer: NodeJS.Timeout | undefined;
  #immediate: NodeJS.Immediate | undefined;
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
      this.#timer = setTimeout(() => {
        this.#timer = undefined;
        this.#immediate = setImmediate(() => {
          this.#immediate = undefined;
          this.#expired = true;
          this.#onExpire();
        });
      }, this.#graceMs);
    }, ms);
  }

  cancel(): void {
    if (this.#timer !== undefined) clearTimeout(this.#timer);
    if (this.#immediate !== undefined) clearImmediate(this.#immediate);
    this.#timer = undefined;
    this.#immediate = undefined;
  }

  /** Whether it has expired and acted. */
  get expired(): boolean {
    return this.#expired;
  }
}
