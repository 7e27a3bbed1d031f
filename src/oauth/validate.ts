import { fetchBounded, type TransportLimits } from "./http.js";
import { isAllowedTransport } from "./loopback.js";
import type { ProviderQuirks } from "./provider.js";
import { hasRateLimitSignal, rateLimitRemaining, type HeaderLookup } from "./rate-limit-headers.js";

/**
 * valid / invalid are verdicts on the token. rate_limited and unknown are not:
 * the caller keeps treating the token as valid (docs/design.md §3 invariant 8), because a
 * validation hiccup must never discard a token that was just persisted.
 */
export type ValidationOutcome = "valid" | "invalid" | "rate_limited" | "unknown";

export interface ValidationResult {
  outcome: ValidationOutcome;
  /** Absent when no HTTP response arrived. */
  status?: number;
  /** Requests the provider says are left in its rate-limit window (X-RateLimit-Remaining, RateLimit-Remaining). */
  rateLimitRemaining?: number;
}

/** The decision table of docs/design.md §3 invariant 8, separated from I/O. */
export function validationOutcome(status: number, headers: HeaderLookup): ValidationOutcome {
  if (status >= 200 && status <= 299) return "valid";
  if (status === 401) return "invalid";
  if (status === 429) return "rate_limited";
  // GitHub answers both "revoked" and "rate limited" with 403; only headers tell them apart.
  if (status === 403) return hasRateLimitSignal(headers) ? "rate_limited" : "invalid";
  return "unknown";
}

const USER_AGENT = "tokenbroker"; // GitHub's API rejects requests without one

/** Slack's error codes (auth.test) that mean the token itself is no good. */
const SLACK_DEAD_TOKEN = new Set(["invalid_auth", "not_authed", "token_revoked", "token_expired", "account_inactive"]);

/**
 * Slack's Web API answers HTTP 200 whatever happened and reports in the
 * body: `{"ok": false, "error": "invalid_auth"}` for a dead token. Pure.
 */
export function slackValidationOutcome(json: unknown): ValidationOutcome {
  const body = typeof json === "object" && json !== null ? (json as Record<string, unknown>) : undefined;
  if (body === undefined) return "unknown";
  if (body.ok === true) return "valid";
  if (typeof body.error === "string" && SLACK_DEAD_TOKEN.has(body.error)) return "invalid";
  if (body.error === "ratelimited") return "rate_limited";
  return "unknown";
}

export interface ValidateOptions extends TransportLimits {
  /** "slack" reads the verdict from the 200 body (auth.test); the rest go by status. */
  quirks?: ProviderQuirks | undefined;
}

/**
 * Asks the provider whether an access token works. Never throws: transport
 * failures, timeouts and odd statuses are "unknown". A URL that is neither
 * https nor loopback http is not contacted at all (the bearer token would
 * travel in clear) and also yields "unknown".
 */
export async function validateToken(
  url: string,
  accessToken: string,
  opts: ValidateOptions,
): Promise<ValidationResult> {
  if (!isAllowedTransport(url)) return { outcome: "unknown" };
  try {
    const x = await fetchBounded(
      url,
      { method: "GET", headers: { authorization: `Bearer ${accessToken}`, "user-agent": USER_AGENT } },
      opts,
      "validate endpoint",
    );
    const outcome = validationOutcome(x.status, x.headers);
    const remaining = rateLimitRemaining(x.headers);
    const extra = remaining !== undefined ? { rateLimitRemaining: remaining } : {};
    if (outcome === "valid" && opts.quirks === "slack") {
      return { outcome: slackValidationOutcome(parseJson(x.body)), status: x.status, ...extra };
    }
    return { outcome, status: x.status, ...extra };
  } catch {
    return { outcome: "unknown" };
  }
}

function parseJson(body: Uint8Array): unknown {
  try {
    return JSON.parse(new TextDecoder().decode(body));
  } catch {
    return undefined;
  }
}
