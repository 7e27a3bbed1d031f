import { redactSecrets, truncateUtf8 } from "./redact.js";

/**
 * How the refresh engine must react to a failure, not what went wrong:
 * - permanent: the grant is dead; record the reason and require re-linking.
 * - client_credentials: our side of the provider config is wrong; keep the
 *   user's refresh token, fixing the config heals every link.
 * - transient: retry with backoff; never cache as permanent.
 * - rate_limited: retry later, honouring retryAfterMs.
 */
export type OAuthErrorKind = "permanent" | "client_credentials" | "transient" | "rate_limited";

export interface OAuthErrorInit {
  kind: OAuthErrorKind;
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
  readonly status?: number;
  readonly error?: string;
  readonly description?: string;
  readonly retryAfterMs?: number;

  constructor(init: OAuthErrorInit) {
    super(init.message);
    this.kind = init.kind;
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
      message: this.message,
      status: this.status,
      error: this.error,
      description: this.description,
      retryAfterMs: this.retryAfterMs,
    };
  }
}

export function isOAuthError(e: unknown): e is OAuthError {
  return e instanceof OAuthError;
}

/** docs/design.md §3 invariant 5 stores at most this much of a failure reason. */
export const FAILURE_REASON_MAX_BYTES = 400;

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
