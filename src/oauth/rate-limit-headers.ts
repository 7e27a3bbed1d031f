/** The one thing needed from a header bag; `Headers` satisfies it. */
export interface HeaderLookup {
  get(name: string): string | null;
}

/**
 * Retry-After is either delay-seconds or an HTTP-date (RFC 9110 §10.2.3).
 * Returns undefined for absent or unparseable values rather than guessing.
 */
export function parseRetryAfter(value: string | null | undefined, nowMs: number): number | undefined {
  if (value == null) return undefined;
  const v = value.trim();
  if (/^\d+$/.test(v)) return Number(v) * 1000;
  // Date.parse accepts bare numbers and other oddities; require a date shape.
  if (!/[A-Za-z]/.test(v)) return undefined;
  const at = Date.parse(v);
  if (Number.isNaN(at)) return undefined;
  return Math.max(0, at - nowMs);
}

function isZero(value: string | null): boolean {
  return value !== null && value.trim() === "0";
}

/**
 * A 403 is ambiguous at GitHub (revoked or rate limited); only headers tell.
 * These are the headers that mean "rate limited": Retry-After (secondary
 * limits), X-RateLimit-Remaining: 0 (GitHub's primary limit) and the IETF
 * draft's RateLimit-Remaining: 0.
 */
export function hasRateLimitSignal(headers: HeaderLookup): boolean {
  return (
    headers.get("retry-after") !== null ||
    isZero(headers.get("x-ratelimit-remaining")) ||
    isZero(headers.get("ratelimit-remaining"))
  );
}

/**
 * How long the provider asked us to wait. Retry-After wins; failing that, an
 * exhausted quota's reset time (X-RateLimit-Reset is epoch seconds at GitHub,
 * the IETF RateLimit-Reset is delta seconds).
 */
export function retryDelayMs(headers: HeaderLookup, nowMs: number): number | undefined {
  const retryAfter = parseRetryAfter(headers.get("retry-after"), nowMs);
  if (retryAfter !== undefined) return retryAfter;
  if (isZero(headers.get("x-ratelimit-remaining"))) {
    const reset = Number(headers.get("x-ratelimit-reset") ?? NaN);
    if (Number.isFinite(reset) && reset > 0) return Math.max(0, reset * 1000 - nowMs);
  }
  if (isZero(headers.get("ratelimit-remaining"))) {
    const reset = Number(headers.get("ratelimit-reset") ?? NaN);
    if (Number.isFinite(reset) && reset >= 0) return reset * 1000;
  }
  return undefined;
}

/** The requests left in the provider's window (GitHub's header, else the IETF draft's); undefined when neither is a count. */
export function rateLimitRemaining(headers: HeaderLookup): number | undefined {
  for (const name of ["x-ratelimit-remaining", "ratelimit-remaining"]) {
    const value = headers.get(name)?.trim();
    if (value !== undefined && /^\d{1,12}$/.test(value)) return Number(value);
  }
  return undefined;
}
