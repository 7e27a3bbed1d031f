import { setImmediate as nextTurn, setTimeout as realDelay } from "node:timers/promises";
import type { Clock } from "../../src/broker/clock.js";

interface Sleeper {
  at: number;
  wake(): void;
}

/** Event-loop turns for woken code to run on to its next wait (the store is synchronous SQLite). */
const SETTLE_TURNS = 10;

async function settle(): Promise<void> {
  for (let i = 0; i < SETTLE_TURNS; i++) await nextTurn();
}

function abortError(): Error {
  return new DOMException("The operation was aborted", "AbortError");
}

/**
 * The engine's clock in the in-process suites: real time plus an offset that
 * a test moves forward to skip what the engine would otherwise wait out in
 * real time (a breaker's backoff, a lease's expiry, a Retry-After, the polls
 * for another holder). Every sleep ends once its deadline is reached, by real
 * time passing or by a skip, so a test that skips nothing runs exactly as on
 * the system clock.
 */
export class SkippableClock implements Clock {
  #offset = 0;
  readonly #sleepers = new Set<Sleeper>();

  // Fields, not methods: the engine hands `now` and `sleep` on unbound.
  readonly now = (): number => Date.now() + this.#offset;

  readonly sleep = (ms: number, signal?: AbortSignal): Promise<void> =>
    new Promise<void>((resolve, reject) => {
      if (signal?.aborted) return reject(abortError());
      const done = (): void => {
        clearTimeout(timer);
        this.#sleepers.delete(sleeper);
        signal?.removeEventListener("abort", onAbort);
      };
      const onAbort = (): void => {
        done();
        reject(abortError());
      };
      const sleeper: Sleeper = {
        at: this.now() + ms,
        wake: () => {
          done();
          resolve();
        },
      };
      const timer = setTimeout(sleeper.wake, ms);
      signal?.addEventListener("abort", onAbort, { once: true });
      this.#sleepers.add(sleeper);
    });

  /** How many sleeps are pending. */
  get sleeping(): number {
    return this.#sleepers.size;
  }

  /**
   * Moves time forward by `ms`, waking the sleeps it passes one by one in
   * deadline order and letting each woken task run on before the next: a
   * heartbeat due within the skip renews its lease when it is due, as it
   * would in real time, instead of finding it expired at the end.
   */
  async advance(ms: number): Promise<void> {
    const target = this.now() + ms;
    for (let next = this.#earliest(); next !== undefined && next.at <= target; next = this.#earliest()) {
      this.#wake(next);
      await settle();
    }
    this.#skip(target - this.now());
  }

  /**
   * Settles `work`, skipping straight to the next wake-up whenever everything
   * is waiting on this clock: not while `busy()` says real work is under way
   * (a request at the provider), whose duration is not this clock's to skip,
   * and never to a wake-up more than `maxSkipMs` away (a lease heartbeat, due
   * while a request is still on its way to the provider, is not skipped to).
   */
  async skipWaits<T>(work: Promise<T>, busy: () => boolean = () => false, maxSkipMs = Number.POSITIVE_INFINITY): Promise<T> {
    let settled = false;
    const watched = work.then(
      () => (settled = true),
      () => (settled = true),
    );
    while (!settled) {
      await settle();
      if (settled) break;
      const next = this.#earliest();
      if (next === undefined || busy() || next.at - this.now() > maxSkipMs) await Promise.race([watched, realDelay(1)]);
      else this.#wake(next);
    }
    return work;
  }

  /** Whole milliseconds, as the wall clock has them (the store refuses fractional times); jittered waits are not. */
  #skip(ms: number): void {
    this.#offset += Math.max(0, Math.ceil(ms));
  }

  #earliest(): Sleeper | undefined {
    let first: Sleeper | undefined;
    for (const s of this.#sleepers) if (first === undefined || s.at < first.at) first = s;
    return first;
  }

  #wake(s: Sleeper): void {
    this.#skip(s.at - this.now());
    s.wake();
  }
}
