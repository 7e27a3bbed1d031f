/**
 * Virtual time for the simulation: one timeline for the whole simulated
 * fleet, a timer queue ordered by (time, sequence), and processes that can
 * be paused (their due callbacks wait until they resume, as under SIGSTOP)
 * or killed (their callbacks are dropped, as after kill -9). Everything the
 * engine waits on in a simulated run is a callback here, so a run is a pure
 * function of its seed and commands: no real timer, no real socket.
 */

export interface SimProcess {
  readonly name: string;
  readonly host: string;
  readonly pid: number;
  paused: boolean;
  dead: boolean;
  /** This process's clock minus the true time (a stepped host clock). */
  offset: number;
}

interface Timer {
  at: number;
  seq: number;
  proc: SimProcess | null;
  fn: () => void;
  cancelled: boolean;
}

/** Lets every queued promise reaction run: one macrotask hop drains the microtask queue. */
const settle = (): Promise<void> => new Promise((resolve) => setImmediate(resolve));

export class VirtualTime {
  #now = 0;
  #seq = 0;
  /** A binary heap on (at, seq). */
  readonly #heap: Timer[] = [];
  /** Callbacks of paused processes that came due, in due order. */
  readonly #deferred = new Map<SimProcess, Timer[]>();
  /** Timer callbacks run so far (a run's cost). */
  steps = 0;

  constructor(start: number) {
    this.#now = start;
  }

  get now(): number {
    return this.#now;
  }

  /** Runs `fn` at `at` (true time) in `proc`'s context (null: the world's, e.g. the database or the provider). */
  at(at: number, proc: SimProcess | null, fn: () => void): () => void {
    const t: Timer = { at: Math.max(Math.ceil(at), this.#now), seq: this.#seq++, proc, fn, cancelled: false };
    this.#push(t);
    return () => {
      t.cancelled = true;
    };
  }

  /** A sleep in `proc`'s context; rejects with an AbortError when `signal` aborts first. */
  sleep(proc: SimProcess, ms: number, signal?: AbortSignal): Promise<void> {
    return new Promise<void>((resolve, reject) => {
      if (signal?.aborted === true) {
        reject(abortError());
        return;
      }
      const onAbort = (): void => {
        cancel();
        reject(abortError());
      };
      const cancel = this.at(this.#now + Math.max(0, ms), proc, () => {
        signal?.removeEventListener("abort", onAbort);
        resolve();
      });
      signal?.addEventListener("abort", onAbort, { once: true });
    });
  }

  /** Lets `proc` run again: what came due while it was paused runs now, in order. */
  resume(proc: SimProcess): void {
    proc.paused = false;
    const due = this.#deferred.get(proc) ?? [];
    this.#deferred.delete(proc);
    for (const t of due) this.#push({ ...t, at: this.#now, seq: this.#seq++ });
  }

  /** Runs every callback due up to `until`, then sets the time to `until`. */
  async runUntil(until: number, maxSteps = Number.POSITIVE_INFINITY): Promise<void> {
    await settle();
    for (;;) {
      const t = this.#heap[0];
      if (t === undefined || t.at > until || this.steps >= maxSteps) break;
      this.#pop();
      if (t.cancelled) continue;
      this.#now = t.at;
      if (t.proc !== null) {
        if (t.proc.dead) continue;
        if (t.proc.paused) {
          const list = this.#deferred.get(t.proc) ?? [];
          list.push(t);
          this.#deferred.set(t.proc, list);
          continue;
        }
      }
      this.steps++;
      t.fn();
      await settle();
    }
    if (until > this.#now) this.#now = until;
  }

  /** Whether anything is queued (live timers of live processes, deferred ones excluded). */
  get idle(): boolean {
    return this.#heap.every((t) => t.cancelled || (t.proc !== null && t.proc.dead));
  }

  #push(t: Timer): void {
    const h = this.#heap;
    h.push(t);
    let i = h.length - 1;
    while (i > 0) {
      const parent = (i - 1) >> 1;
      if (!before(h[i] as Timer, h[parent] as Timer)) break;
      [h[i], h[parent]] = [h[parent] as Timer, h[i] as Timer];
      i = parent;
    }
  }

  #pop(): void {
    const h = this.#heap;
    const last = h.pop() as Timer;
    if (h.length === 0) return;
    h[0] = last;
    let i = 0;
    for (;;) {
      const l = 2 * i + 1;
      const r = l + 1;
      let m = i;
      if (l < h.length && before(h[l] as Timer, h[m] as Timer)) m = l;
      if (r < h.length && before(h[r] as Timer, h[m] as Timer)) m = r;
      if (m === i) break;
      [h[i], h[m]] = [h[m] as Timer, h[i] as Timer];
      i = m;
    }
  }
}

function before(a: Timer, b: Timer): boolean {
  return a.at < b.at || (a.at === b.at && a.seq < b.seq);
}

function abortError(): Error {
  const err = new Error("The operation was aborted");
  err.name = "AbortError";
  return err;
}
