import { BrokerError, Reason } from "./broker-error.js";

// The domain's answers, one constructor each, so every path words them alike.
// Keys are taken structurally ({ providerId }) so this room needs no store types.

const RELINK_HINT = "link again with StartLink (tokenbroker link)";

/** PROVIDER_NOT_FOUND: an id that is not configured, or (without one) a URL no provider's regex matches. */
export function providerNotFound(id?: string): BrokerError {
  const message = id === undefined ? "no provider's regex matches the URL" : `unknown provider ${JSON.stringify(id)}`;
  return new BrokerError(Reason.PROVIDER_NOT_FOUND, message, { hint: "tokenbroker status lists the configured providers (AdminService.ListProviders)" });
}

/**
 * LINK_NOT_FOUND for Unlink: there was nothing to delete, so no "link first"
 * (wire-error.ts words that hint only for the other calls).
 */
export function nothingToUnlink(key: { providerId: string }): BrokerError {
  return new BrokerError(Reason.LINK_NOT_FOUND, `no link for this user at provider ${JSON.stringify(key.providerId)}; nothing was unlinked`, {
    hint: NOTHING_TO_UNLINK_HINT,
  });
}

/** The hint of nothingToUnlink, which the wire keeps as it is. */
export const NOTHING_TO_UNLINK_HINT = "tokenbroker links --user U lists a user's links";

export function linkNotFound(key: { providerId: string }): BrokerError {
  return new BrokerError(Reason.LINK_NOT_FOUND, `no link for this user at provider ${JSON.stringify(key.providerId)}`, {
    hint: "create one with StartLink (tokenbroker link)",
  });
}

/** PROVIDER_MISCONFIGURED; `retryAfterMs` is the breaker's backoff when one was opened (docs/design.md §3 invariant 6). */
export function providerMisconfigured(providerId: string, failureReason: string, retryAfterMs?: number): BrokerError {
  return new BrokerError(Reason.PROVIDER_MISCONFIGURED, `provider ${JSON.stringify(providerId)} rejected tokenbroker's client credentials`, {
    failureReason,
    ...(retryAfterMs !== undefined ? { retryAfterMs } : {}),
    hint: "fix client_id or client_secret in the provider's configuration",
  });
}

export function providerUnavailable(providerId: string, what: string, retryAfterMs: number): BrokerError {
  return new BrokerError(Reason.PROVIDER_UNAVAILABLE, `provider ${JSON.stringify(providerId)}: ${what}`, { retryAfterMs });
}

export function providerRateLimited(providerId: string, retryAfterMs: number): BrokerError {
  return new BrokerError(Reason.PROVIDER_RATE_LIMITED, `provider ${JSON.stringify(providerId)} is rate limiting`, { retryAfterMs });
}

/** REAUTH_REQUIRED: the provider refused the refresh token just now (docs/design.md §3 invariant 5). */
export function reauthRequired(failureReason: string, failedAt: number, message = "the provider rejected the refresh token; the user has to link again"): BrokerError {
  return new BrokerError(Reason.REAUTH_REQUIRED, message, {
    failureReason,
    failedAt,
    hint: RELINK_HINT,
  });
}

/** REAUTH_REQUIRED from the failure recorded on the link: final until re-link, the provider is not asked. */
export function reauthRecorded(failure: { reason: string; failedAt: number }): BrokerError {
  return new BrokerError(Reason.REAUTH_REQUIRED, "the link's refresh failed; the user has to link again", {
    failureReason: failure.reason,
    failedAt: failure.failedAt,
    hint: RELINK_HINT,
  });
}

export function noRefreshToken(): BrokerError {
  return new BrokerError(Reason.REAUTH_REQUIRED, "the access token expired and no refresh token is stored", {
    failureReason: "no refresh token",
    hint: RELINK_HINT,
  });
}

/** REAUTH_REQUIRED: the validate URL refused a token that was just refreshed (and is kept: §3 invariant 8). */
export function refreshedTokenRejected(status: number | undefined, failedAt: number): BrokerError {
  return new BrokerError(Reason.REAUTH_REQUIRED, "the provider rejected the refreshed access token", {
    failureReason: `validation answered HTTP ${status ?? "error"}`,
    failedAt,
    hint: RELINK_HINT,
  });
}

/**
 * STORE_UNAVAILABLE: the store cannot serve now (busy past its budget, full,
 * failing I/O); nothing was lost, try again after `retryAfterMs`
 * (docs/design.md §3 invariant 10). `cause` is the store's fault, if any.
 */
export function storeUnavailable(cause?: { code: string; retryAfterMs: number }, what = "the store cannot serve this request now"): BrokerError {
  return new BrokerError(Reason.STORE_UNAVAILABLE, what, {
    retryAfterMs: Math.max(cause?.retryAfterMs ?? 1000, 100),
    ...(cause !== undefined ? { metadata: { store_code: cause.code } } : {}),
  });
}

/** For durations in details: whole seconds, the way the config writes them. */
function seconds(ms: number): string {
  return `${Math.floor(ms / 1000)}s`;
}

/** Whole seconds when exact, else to the millisecond: "119.3s" next to "119.5s" says what "119s" hid. */
function preciseSeconds(ms: number): string {
  return ms % 1000 === 0 ? `${ms / 1000}s` : `${(ms / 1000).toFixed(3).replace(/0+$/, "")}s`;
}

/**
 * MIN_VALIDITY_UNREACHABLE: the provider issues tokens that live shorter than
 * the caller asked (docs/design.md §3 invariant 16); another refresh would
 * not help.
 */
export function minValidityUnreachable(providerId: string, issuedLifetimeMs: number, minValidMs: number): BrokerError {
  return new BrokerError(
    Reason.MIN_VALIDITY_UNREACHABLE,
    `provider ${JSON.stringify(providerId)} issues tokens valid for ${preciseSeconds(issuedLifetimeMs)} by the time they arrive, less than the ${preciseSeconds(minValidMs)} asked`,
    {
      hint: `ask for a min_valid_for of at most ${seconds(issuedLifetimeMs)}`,
      metadata: { provider_id: providerId, issued_lifetime: seconds(issuedLifetimeMs) },
    },
  );
}

/**
 * REFRESH_INTERRUPTED: a refresh of the link was sent at `sentAt` by `by`
 * and its answer was never seen; the refresh token is not sent again while
 * the answer may still be stored (docs/design.md §3 invariant 11).
 */
export function refreshInterrupted(providerId: string, sentAt: number, by: string, retryAfterMs: number): BrokerError {
  return new BrokerError(
    Reason.REFRESH_INTERRUPTED,
    `provider ${JSON.stringify(providerId)}: the refresh sent at ${new Date(sentAt).toISOString()} by ${by} was interrupted (no answer to it was seen); the refresh token is not sent again while that answer may still arrive and be stored`,
    { retryAfterMs, metadata: { provider_id: providerId, interrupted_at: new Date(sentAt).toISOString(), interrupted_by: by } },
  );
}

/** PROVIDER_UNAVAILABLE while another process still refreshes the link: its result will be stored; ask again. */
export function refreshInProgress(providerId: string): BrokerError {
  return new BrokerError(Reason.PROVIDER_UNAVAILABLE, `provider ${JSON.stringify(providerId)}: another process is still refreshing this link`, {
    retryAfterMs: 1000,
    metadata: { provider_id: providerId, refresh_in_progress: "true" },
  });
}

/**
 * USER_NOT_ALLOWED: the caller is bound to users (a job token, a configured
 * caller with `users`) and asked about another user, or about a provider
 * outside its job token's list (docs/design.md §6). Nothing was changed.
 */
export function userNotAllowed(caller: string, what: { userId: string } | { providerId: string }): BrokerError {
  if ("userId" in what) {
    return new BrokerError(Reason.USER_NOT_ALLOWED, `caller ${caller} may not act for user ${JSON.stringify(what.userId)}`, {
      hint: "use a caller token issued for that user",
      metadata: { user_id: what.userId },
    });
  }
  return new BrokerError(Reason.USER_NOT_ALLOWED, `caller ${caller} may not obtain tokens of provider ${JSON.stringify(what.providerId)}`, {
    hint: "use a caller token issued for that provider",
    metadata: { provider_id: what.providerId },
  });
}
