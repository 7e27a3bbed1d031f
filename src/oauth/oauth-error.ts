import { redactSecrets, truncateUtf8 } from "../redact.js";

/**
 * How the refresh engine must react to a failure, not what went wrong:
 * - permanent: the grant is dead; record the reason and require re-linking.
 * - client_credentials: our side of the provider config is wrong; keep the
 *   user's refresh token, fixing the config heals every link.
 * - transient: retry with backoff; never cache as permanent.
 * - rate_limited: retry later, honouring retryAfterMs.
 * - unusable_answer: the provider answered HTTP 2xx but without usable
 *   tokens (no body, not an object, neither token, a body that could not be
 *   read). Never retried: the provider may have rotated the refresh token,
 *   and presenting the old one again is a replay (docs/design.md §3.1).
 */
export type OAuthErrorKind = "permanent" | "client_credentials" | "transient" | "rate_limited" | "unusable_answer";

/**
 * What the provider may have done with the request, so the engine can tell
 * a refresh token that is certainly unspent from one that may be spent:
 * - not_sent: the request never left (refused before sending, connection
 *   refused, name not resolved); nothing it carried was presented.
 * - answered: the provider answered with an error (an HTTP error status, or
 *   an OAuth `error` body in a 2xx); it issued no tokens, so it rotated nothing.
 * - unknown: the request may have reached the provider and its answer was
 *   lost or unusable (timeout, reset, shutdown abort, unusable_answer); the
 *   provider may have rotated the refresh token.
 */
export type SentState = "not_sent" | "answered" | "unknown";

export interface OAuthErrorInit {
  kind: OAuthErrorKind;
  sent: SentState;
  /** Must be free of secrets and of `= & / ? #` (grpc-js percent-encodes them). */
  message: string;
  status?: number | undefined;
  error?: string | undefined;
  description?: string | undefined;
  retryAfterMs?: number | undefined;
}

/**
 * The single error type of src/oauth. Callers branch on `kind`; `error` is
 * the provider's OAuth error code, kept for the stored failure reason. No
 * `cause` is attached: oauth4webapi's errors carry whole response bodies,
 * which may hold tokens, and a logger would happily serialise them.
 */
export class OAuthError extends Error {
  override readonly name = "OAuthError";
  readonly kind: OAuthErrorKind;
  readonly sent: SentState;
  readonly status?: number;
  readonly error?: string;
  readonly description?: string;
  readonly retryAfterMs?: number;

  constructor(init: OAuthErrorInit) {
    super(init.message);
    this.kind = init.kind;
    this.sent = init.sent;
    if (init.status !== undefined) this.status = init.status;
    if (init.error !== undefined) this.error = init.error;
    if (init.description !== undefined) this.description = init.description;
    if (init.retryAfterMs !== undefined) this.retryAfterMs = init.retryAfterMs;
  }

  /** A copy carrying a retry hint, for callers that must tell clients when to come back. */
  withRetryAfter(retryAfterMs: number): OAuthError {
    return new OAuthError({ ...this.init(), retryAfterMs });
  }

  private init(): OAuthErrorInit {
    return {
      kind: this.kind,
      sent: this.sent,
      message: this.message,
      status: this.status,
      error: this.error,
      description: this.description,
      retryAfterMs: this.retryAfterMs,
    };
  }
}

/** docs/design.md §3 invariant 5 stores at most this much of a failure reason. */
export const FAILURE_REASON_MAX_BYTES = 400;

/** A failure reason composed around a provider's words, cut to what is stored (UTF-8 safe). */
export function boundFailureReason(text: string): string {
  return truncateUtf8(text, FAILURE_REASON_MAX_BYTES);
}

/**
 * A short human reason fit for storing on a link and showing to the user,
 * e.g. "bad_refresh_token: The refresh token passed is incorrect or expired.".
 * Providers sometimes echo the request back in error descriptions, so the
 * values sent (refresh token, client secret) are passed in and scrubbed,
 * together with anything else shaped like a token.
 */
export function failureReason(e: unknown, secrets: readonly string[] = []): string {
  let text: string;
  if (e instanceof OAuthError && e.error !== undefined) {
    text = e.description ? `${e.error}: ${e.description}` : e.error;
  } else if (e instanceof Error) {
    text = e.message;
  } else {
    text = String(e);
  }
  const oneLine = text.replace(/\s+/g, " ").trim();
  return truncateUtf8(redactSecrets(oneLine, secrets), FAILURE_REASON_MAX_BYTES);
}
