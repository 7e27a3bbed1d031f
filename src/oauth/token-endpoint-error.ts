import { classify } from "./classify.js";
import { OAuthError, FAILURE_REASON_MAX_BYTES } from "./oauth-error.js";
import { redactSecrets, truncateUtf8 } from "../redact.js";
import type { TokenExchange } from "./token-endpoint-fetch.js";

/** Printable-ASCII only, so a provider cannot smuggle control or reserved characters into messages. */
export function messageSafe(s: string): string {
  return s.replace(/[^A-Za-z0-9_.\- ]/g, "").slice(0, 64);
}

function libraryCode(e: unknown): string {
  const c = (e as { code?: unknown } | null)?.code;
  return typeof c === "string" ? messageSafe(c) : e instanceof Error ? messageSafe(e.name) : "unknown";
}

/** Why a 2xx that is no error still could not be used, for the message. */
function unusableDetail(x: TokenExchange): string {
  if (x.nonJson) return "the body is not a JSON or form object";
  if (x.json === undefined) return "the body is empty";
  return "neither access_token nor refresh_token";
}

/**
 * The classified OAuthError for an answer that is not a usable success: an
 * HTTP error, an OAuth error in a 2xx body (GitHub, Slack), or a 2xx
 * without usable tokens (kind unusable_answer). Reads the raw exchange; the
 * provider's `error` and `error_description` are kept (scrubbed of
 * `secrets` and anything token-shaped) for the stored failure reason.
 */
export function answerError(x: TokenExchange, secrets: readonly string[], what: string, nowMs?: number): OAuthError {
  const scrub = (s: string, max: number) => truncateUtf8(redactSecrets(s.replace(/\s+/g, " ").trim(), secrets), max);
  const rawError = x.json?.error;
  const error = typeof rawError === "string" && rawError !== "" ? scrub(rawError, 128) : undefined;
  const rawDescription = x.json?.error_description;
  const description = typeof rawDescription === "string" ? scrub(rawDescription, FAILURE_REASON_MAX_BYTES) : undefined;
  const c = classify({ httpStatus: x.status, oauthError: error, headers: x.headers, nonJson: x.nonJson, nowMs });

  let message = `${what} answered HTTP ${x.status}`;
  if (c.kind === "unusable_answer") message += ` without usable tokens (${unusableDetail(x)})`;
  else if (error !== undefined) message += ` with ${messageSafe(error)}`;
  else if (x.nonJson) message += " with a non-JSON body";

  return new OAuthError({
    kind: c.kind,
    // An error answer issued nothing; a 2xx without tokens may have rotated.
    sent: c.kind === "unusable_answer" ? "unknown" : "answered",
    message,
    status: x.status,
    error,
    description,
    retryAfterMs: c.retryAfterMs,
  });
}

/**
 * Whatever sending a request to an OAuth endpoint threw, as a classified
 * OAuthError. Transport failures are already classified (http.ts). Anything
 * else was thrown by oauth4webapi before the request left (http:// off
 * loopback, a malformed URL): a configuration problem, so the user's grant
 * must be left alone. oauth4webapi's own errors are never passed on: they
 * may carry whole response bodies.
 */
export function sendError(e: unknown, x: TokenExchange | undefined, secrets: readonly string[], what: string, nowMs?: number): OAuthError {
  if (e instanceof OAuthError) return e;
  if (x !== undefined) return answerError(x, secrets, what, nowMs);
  return new OAuthError({
    kind: "client_credentials",
    sent: "not_sent",
    message: `${what} request not sent, provider configuration rejected (${libraryCode(e)})`,
  });
}
