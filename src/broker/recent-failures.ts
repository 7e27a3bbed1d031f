import type { BrokerError } from "../errors/index.js";

/** The most transient failures remembered per process. */
const MAX_REMEMBERED = 10_000;

/**
 * The last transient or rate-limited failure per key, until its retry-after
 * passes. Callers that queued behind a failed refresh get the same answer
 * instead of each running a full retry series against a provider that is
 * down. Bounded: a provider outage across many keys must not grow memory
 * without limit.
 */
export class RecentFailures {
  readonly #byKey = new Map<string, { seq: number; until: number; error: BrokerError }>();
  /**
   * Counts failures remembered. A caller notes it on arrival; "recorded
   * after I arrived" is then exact, where two clock readings in the same
   * millisecond could not tell.
   */
  #seq = 0;

  /** What a caller notes when it arrives, for `since`. */
  mark(): number {
    return this.#seq;
  }

  /** The failure recorded for `key` after the caller's `mark` and still in force at `now`. */
  since(key: string, mark: number, now: number): BrokerError | undefined {
    const failure = this.#byKey.get(key);
    return failure !== undefined && now < failure.until && failure.seq > mark ? failure.error : undefined;
  }

  remember(key: string, error: BrokerError, now: number): BrokerError {
    if (this.#byKey.size >= MAX_REMEMBERED) {
      for (const [keyId, failure] of this.#byKey) if (failure.until <= now) this.#byKey.delete(keyId);
    }
    if (this.#byKey.size < MAX_REMEMBERED) {
      this.#byKey.set(key, { seq: ++this.#seq, until: now + (error.detail.retryAfterMs ?? 1000), error });
    }
    return error;
  }

  forget(key: string): void {
    this.#byKey.delete(key);
  }
}
