import type { OAuthErrorKind } from "./oauth-error.js";
import { hasRateLimitSignal, retryDelayMs, type HeaderLookup } from "./rate-limit-headers.js";

/** What was observed about one failed token-endpoint exchange. */
export interface ClassifyInput {
  /** Absent when no HTTP response (status line and headers) arrived. */
  httpStatus?: number | undefined;
  /** The `error` member of the response body, when it had one. */
  oauthError?: string | undefined;
  headers?: HeaderLookup | undefined;
  /** Connection refused/reset, DNS failure, timeout, body over the size cap or cut off. */
  networkError?: boolean | undefined;
  /** A body was present but was neither JSON nor form-encoded (an HTML error page). */
  nonJson?: boolean | undefined;
  /** Injectable clock for HTTP-date Retry-After values; defaults to Date.now(). */
  nowMs?: number | undefined;
}

export interface Classification {
  kind: OAuthErrorKind;
  retryAfterMs?: number;
  /** Which rule matched, for tests and debug logs. */
  rule: string;
}

/** Codes meaning the client (our config), not the user's grant, was rejected. */
const CLIENT_CREDENTIAL_ERRORS: ReadonlySet<string> = new Set([
  "invalid_client",
  "incorrect_client_credentials", // GitHub, in an HTTP 200 body
  "unauthorized_client",
]);

/** Codes meaning the refresh token itself is dead. */
const PERMANENT_ERRORS: ReadonlySet<string> = new Set([
  "bad_refresh_token", // GitHub, in an HTTP 200 body
  "invalid_grant",
  "unsupported_grant_type",
]);

interface Rule {
  name: string;
  when: (i: ClassifyInput) => boolean;
  kind: OAuthErrorKind;
}

const status = (i: ClassifyInput): number => i.httpStatus ?? 0;
const code = (i: ClassifyInput): string => i.oauthError ?? "";

/** A 2xx answer: the provider accepted the request and may have rotated the refresh token. */
export function isSuccessStatus(s: number | undefined): boolean {
  return s !== undefined && s >= 200 && s <= 299;
}

/**
 * First match wins. The order encodes the policy:
 * - A 2xx without an OAuth error code is never transient, whatever else
 *   went wrong (no tokens, a non-JSON body, a body over the cap or cut off):
 *   the provider accepted the request and may have rotated the refresh
 *   token, so retrying would replay a spent one (docs/design.md §3 invariant 10).
 * - Server-state statuses (429, 5xx) are trusted over body codes: a server
 *   under duress may say anything, and misreading an overload as a dead grant
 *   would destroy the user's refresh token.
 * - Otherwise body codes win over the status (401 + invalid_client is a
 *   config problem, not a dead grant).
 * - A non-JSON body is transient even on 400/401: such pages come from
 *   proxies and WAFs, not from the OAuth server, and only JSON is the
 *   provider speaking (clearing a refresh token is the one irreversible move).
 * - Unknown situations are transient: a retry within budget costs little.
 */
const CLASSIFICATION_RULES: readonly Rule[] = [
  { name: "http-2xx-unusable", when: (i) => isSuccessStatus(i.httpStatus) && code(i) === "", kind: "unusable_answer" },
  { name: "network", when: (i) => i.networkError === true, kind: "transient" },
  { name: "http-429", when: (i) => status(i) === 429, kind: "rate_limited" },
  { name: "http-5xx", when: (i) => status(i) >= 500 && status(i) <= 599, kind: "transient" },
  { name: "client-credential-code", when: (i) => CLIENT_CREDENTIAL_ERRORS.has(code(i)), kind: "client_credentials" },
  { name: "permanent-code", when: (i) => PERMANENT_ERRORS.has(code(i)), kind: "permanent" },
  // RFC 6749 defines these for the authorization endpoint; some servers reuse them here.
  {
    name: "transient-code",
    when: (i) => code(i) === "temporarily_unavailable" || code(i) === "server_error",
    kind: "transient",
  },
  { name: "slow-down-code", when: (i) => code(i) === "slow_down", kind: "rate_limited" },
  {
    name: "http-403-rate-limited",
    when: (i) => status(i) === 403 && i.headers !== undefined && hasRateLimitSignal(i.headers),
    kind: "rate_limited",
  },
  // docs/design.md §3 invariant 7: a plain 403 from the token endpoint is transient (WAFs, geo blocks, abuse heuristics).
  { name: "http-403", when: (i) => status(i) === 403, kind: "transient" },
  { name: "non-json", when: (i) => i.nonJson === true, kind: "transient" },
  // GitHub reports every error as HTTP 200 with `error`; treat it as the 400 it stands for.
  {
    name: "http-400-401",
    when: (i) => status(i) === 400 || status(i) === 401 || (isSuccessStatus(i.httpStatus) && code(i) !== ""),
    kind: "permanent",
  },
];

const FALLBACK: Rule = { name: "fallback", when: () => true, kind: "transient" };

/** Pure: the same input always gives the same answer (pass nowMs for HTTP-dates). */
export function classify(input: ClassifyInput): Classification {
  const rule = CLASSIFICATION_RULES.find((r) => r.when(input)) ?? FALLBACK;
  const out: Classification = { kind: rule.kind, rule: rule.name };
  if ((rule.kind === "transient" || rule.kind === "rate_limited") && input.headers !== undefined) {
    const delay = retryDelayMs(input.headers, input.nowMs ?? Date.now());
    if (delay !== undefined) out.retryAfterMs = delay;
  }
  return out;
}
