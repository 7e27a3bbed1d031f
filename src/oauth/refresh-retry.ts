import { setTimeout as delay } from "node:timers/promises";
import { OAuthError } from "./oauth-error.js";
import type { ProviderEndpoints } from "./provider-endpoints.js";
import { refreshGrant, type RefreshOptions, type TokenSet } from "./refresh.js";

export interface RetryOptions extends RefreshOptions {
  /** First backoff ceiling; doubles per attempt. Default 250 ms (docs/design.md §3 invariant 7). */
  initialBackoffMs?: number | undefined;
  /** Backoff ceiling cap. Default 2 s. */
  maxBackoffMs?: number | undefined;
  /** Time allowed for waiting between attempts. Default 10 s. */
  budgetMs?: number | undefined;
  /** Called after every failed attempt (1-based), retried or not; for logs and metrics. */
  onAttempt?: ((attempt: number, err: OAuthError) => void) | undefined;
  /** Replaceable wait; the default is a real timer that ends early on `signal`. */
  sleep?: ((ms: number, signal?: AbortSignal) => Promise<void>) | undefined;
}

const realSleep = (ms: number, signal?: AbortSignal): Promise<void> =>
  delay(ms, undefined, signal ? { signal } : {});

export function isRetryable(e: OAuthError): boolean {
  return e.kind === "transient" || e.kind === "rate_limited";
}

/**
 * refreshGrant, retried on transient and rate-limited failures with
 * exponential backoff and full jitter (a random wait up to a ceiling that
 * doubles from initialBackoffMs to maxBackoffMs), never shorter than the
 * provider's Retry-After. Gives up, throwing the last error, as soon as the
 * next wait would not fit in what is left of the budget; an attempt already
 * started runs to its own timeout, because cutting a refresh short after the
 * provider rotated would lose the new refresh token. The thrown error always
 * carries retryAfterMs, so the caller can tell its client when to come back.
 * Permanent and client-credential errors are thrown at once: retrying them
 * only adds load on a provider that has already answered.
 */
export async function refreshWithRetry(p: ProviderEndpoints, refreshToken: string, opts: RetryOptions): Promise<TokenSet> {
  const initial = opts.initialBackoffMs ?? 250;
  const cap = opts.maxBackoffMs ?? 2000;
  const sleep = opts.sleep ?? realSleep;
  const deadline = performance.now() + (opts.budgetMs ?? 10_000);
  for (let attempt = 1; ; attempt++) {
    try {
      return await refreshGrant(p, refreshToken, { timeoutMs: opts.timeoutMs, signal: opts.signal });
    } catch (e) {
      const err = e instanceof OAuthError ? e : new OAuthError({ kind: "transient", message: "refresh failed unexpectedly" });
      opts.onAttempt?.(attempt, err);
      if (!isRetryable(err)) throw err;
      const ceiling = Math.min(cap, initial * 2 ** (attempt - 1));
      const wait = Math.max(Math.random() * ceiling, err.retryAfterMs ?? 0);
      const giveUp = err.retryAfterMs === undefined ? err.withRetryAfter(Math.round(ceiling)) : err;
      if (opts.signal?.aborted || wait > deadline - performance.now()) throw giveUp;
      try {
        await sleep(wait, opts.signal);
      } catch {
        throw giveUp; // shutdown during the wait
      }
    }
  }
}
