import { Semaphore } from "async-mutex";

/**
 * Per-provider pressure control. A concurrency limit on token-endpoint calls
 * (thousands of keys expiring together queue here instead of tripping the
 * provider's rate limits: docs/design.md §3 invariant 9), and a
 * misconfiguration breaker: once a provider rejects our client credentials,
 * no user's refresh is attempted until the backoff passes (invariant 6).
 */
export class ProviderGate {
  readonly #limit: Semaphore;
  /** Token-endpoint requests this process may have in flight to the provider at once. */
  readonly limit: number;
  #inFlight = 0;
  #peak = 0;
  #misconfigured: { reason: string; until: number; backoffMs: number } | undefined;

  constructor(
    concurrency: number,
    private readonly backoff: { initialMs: number; maxMs: number },
  ) {
    this.#limit = new Semaphore(concurrency);
    this.limit = concurrency;
  }

  /** Waits for a slot; the returned function gives it back (calling it again is a no-op). */
  async acquire(): Promise<() => void> {
    const [, release] = await this.#limit.acquire();
    this.#peak = Math.max(this.#peak, ++this.#inFlight);
    let held = true;
    return () => {
      if (!held) return;
      held = false;
      this.#inFlight--;
      release();
    };
  }

  get peakInFlight(): number {
    return this.#peak;
  }

  /** The reason and time left while the breaker is open; undefined when closed. */
  misconfigured(now: number): { reason: string; retryAfterMs: number } | undefined {
    const m = this.#misconfigured;
    if (m === undefined || now >= m.until) return undefined;
    return { reason: m.reason, retryAfterMs: m.until - now };
  }

  /** The last known misconfiguration, even after its backoff passed (for ListProviders). */
  get misconfiguredReason(): string | undefined {
    return this.#misconfigured?.reason;
  }

  markMisconfigured(reason: string, now: number): number {
    const backoffMs = this.#misconfigured === undefined ? this.backoff.initialMs : Math.min(this.backoff.maxMs, this.#misconfigured.backoffMs * 2);
    this.#misconfigured = { reason, until: now + backoffMs, backoffMs };
    return backoffMs;
  }

  markHealthy(): void {
    this.#misconfigured = undefined;
  }
}
