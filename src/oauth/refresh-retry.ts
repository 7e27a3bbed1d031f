import { setTimeout as delay } from "node:timers/promises";
import { isSuccessStatus } from "./classify.js";
import { OAuthError } from "./oauth-error.js";
import { refreshGrant, type RefreshOptions, type RefreshProvider } from "./refresh.js";
import type { TokenSet } from "./token-normalize.js";

export interface RetryOptions extends RefreshOptions {
  /** First backoff ceiling; doubles per attempt. Default 250 ms (docs/design.md §3 invariant 7). */
  initialBackoffMs?: number | undefined;
  /** Backoff ceiling cap. Default 2 s. */
  maxBackoffMs?: number | undefined;
  /** Time allowed for waiting between attempts. Default 10 s. */
  budgetMs?: number | undefined;
  /**
   * Awaited before every request, the first included (the engine confirms
   * its lease here). If it throws, nothing is sent and the loop stops,
   * rethrowing that error unchanged.
   */
  beforeAttempt?: ((attempt: number) => Promise<void>) | undefined;
  /**
   * Awaited after a failed attempt whose outcome is known not to have
   * consumed the refresh token (`sent` not_sent or answered), before the
   * backoff: the engine clears its record of the send here. If it throws,
   * the loop stops, rethrowing that error unchanged.
   */
  afterAnswer?: ((err: OAuthError) => Promise<void>) | undefined;
  /** Called after every failed attempt (1-based), retried or not; for logs and metrics. */
  onAttempt?: ((attempt: number, err: OAuthError) => void) | undefined;
  /** Replaceable wait; the default is a real timer that ends early on `signal`. */
  sleep?: ((ms: number, signal?: AbortSignal) => Promise<void>) | undefined;
  /** The jitter's source, a number in [0, 1); default Math.random. */
  random?: (() => number) | undefined;
  /**
   * The clock for the budget and for HTTP-date Retry-After values. Default:
   * a monotonic clock for the budget (a wall-clock step must not stretch
   * it) and Date.now for dates.
   */
  now?: (() => number) | undefined;
  /**
   * Sends one request; default refreshGrant over HTTP. The engine passes its
   * token-endpoint port here (broker/token-endpoint.ts), so a simulated
   * provider sees exactly the requests the retry loop makes.
   */
  send?: ((refreshToken: string, grant: RefreshOptions) => Promise<TokenSet>) | undefined;
}

const realSleep = (ms: number, signal?: AbortSignal): Promise<void> => delay(ms, undefined, signal ? { signal } : {});

/**
 * Whether a failed attempt may be repeated with the same refresh token: only
 * when its outcome is known not to have consumed it (docs/design.md §3
 * invariant 7) — the request never left (`not_sent`: refused, DNS, TLS) or
 * the provider answered with an error (`answered`: 5xx, 429, 403, an HTML
 * error page) — and it was transient or rate-limited. Never a request whose
 * answer was lost (`unknown`: a timeout or reset after writing, a cut-off
 * body): the provider may have rotated the token, and a resend would be a
 * replay (invariant 11). Never one that came with a 2xx status (invariant
 * 10); the status check holds even if classification were wrong.
 */
export function isRetryable(e: OAuthError): boolean {
  return (e.kind === "transient" || e.kind === "rate_limited") && e.sent !== "unknown" && !isSuccessStatus(e.status);
}

interface Backoff {
  initialMs: number;
  capMs: number;
  random: () => number;
}

/**
 * Full jitter: a random wait up to a ceiling that doubles per attempt from
 * initialMs to capMs, never shorter than the provider's Retry-After.
 */
function backoff(attempt: number, retryAfterMs: number | undefined, b: Backoff): { waitMs: number; ceilingMs: number } {
  const ceilingMs = Math.min(b.capMs, b.initialMs * 2 ** (attempt - 1));
  return { waitMs: Math.max(b.random() * ceilingMs, retryAfterMs ?? 0), ceilingMs };
}

/**
 * refreshGrant, retried on retryable failures (isRetryable) with backoff().
 * Gives up, throwing the last error, as soon as the next wait would not fit
 * in what is left of the budget; an attempt already started runs to its own
 * timeout, because cutting a refresh short after the provider rotated would
 * lose the new refresh token. The thrown OAuthError always carries
 * retryAfterMs when it is retryable, so the caller can tell its client when
 * to come back, and `sent` says whether the provider may have rotated.
 * Permanent, client-credential and unusable answers are thrown at once:
 * retrying them only adds load on a provider that has already answered, or
 * replays a spent token. Anything that is not an OAuthError (a bug)
 * propagates unchanged and is not retried either.
 */
export async function refreshWithRetry(p: RefreshProvider, refreshToken: string, opts: RetryOptions): Promise<TokenSet> {
  const policy: Backoff = { initialMs: opts.initialBackoffMs ?? 250, capMs: opts.maxBackoffMs ?? 2000, random: opts.random ?? Math.random };
  const sleep = opts.sleep ?? realSleep;
  const send = opts.send ?? ((token: string, g: RefreshOptions) => refreshGrant(p, token, g));
  const clock = opts.now ?? (() => performance.now());
  const deadline = clock() + (opts.budgetMs ?? 10_000);
  const grant: RefreshOptions = { timeoutMs: opts.timeoutMs, bodyTimeoutMs: opts.bodyTimeoutMs, signal: opts.signal, now: opts.now, redirectUri: opts.redirectUri };
  for (let attempt = 1; ; attempt++) {
    await opts.beforeAttempt?.(attempt);
    let err: OAuthError;
    try {
      return await send(refreshToken, grant);
    } catch (e) {
      if (!(e instanceof OAuthError)) throw e;
      err = e;
    }
    opts.onAttempt?.(attempt, err);
    if (!isRetryable(err)) throw err;
    await opts.afterAnswer?.(err);
    const { waitMs, ceilingMs } = backoff(attempt, err.retryAfterMs, policy);
    const giveUp = err.retryAfterMs === undefined ? err.withRetryAfter(Math.round(ceilingMs)) : err;
    if (opts.signal?.aborted || waitMs > deadline - clock()) throw giveUp;
    try {
      await sleep(waitMs, opts.signal);
    } catch {
      throw giveUp; // shutdown during the wait
    }
  }
}
