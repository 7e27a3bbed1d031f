import { DecryptError } from "../crypto/index.js";
import type { OAuthError } from "../oauth/index.js";
import { StoreUnavailableError } from "../store/store-errors.js";
import { BrokerError, Reason } from "./broker-error.js";
import { providerMisconfigured, providerRateLimited, providerUnavailable, reauthRequired, storeUnavailable } from "./constructors.js";

// Errors of the rooms below (crypto, oauth) in the domain's terms: one mapping each.

/**
 * Where an OAuthError happened decides what a refusal ("permanent") means:
 * on a refresh the grant is dead and the user must link again; in a link
 * flow the provider refused what the user brought (a code, a device code),
 * named by `field`. `retryAfterMs` is the misconfiguration breaker's backoff.
 */
export type OAuthFailureSite = { grant: "refresh"; failedAt: number; retryAfterMs?: number } | { grant: "link"; field: string };

/**
 * The one OAuthError → BrokerError mapping. `failureReason` is the caller's
 * redacted reason (oauth's failureReason(err, secrets)): only the caller
 * knows which values it sent and must scrub.
 */
export function fromOAuthError(providerId: string, err: OAuthError, failureReason: string, site: OAuthFailureSite): BrokerError {
  switch (err.kind) {
    case "client_credentials":
      return providerMisconfigured(providerId, failureReason, site.grant === "refresh" ? site.retryAfterMs : undefined);
    case "transient":
      return providerUnavailable(providerId, "the provider did not answer usefully", err.retryAfterMs ?? 1000);
    case "rate_limited":
      return providerRateLimited(providerId, err.retryAfterMs ?? 1000);
    case "unusable_answer":
      return providerUnavailable(providerId, "the provider answered without usable tokens", 1000);
    case "permanent":
      if (site.grant === "refresh") return reauthRequired(failureReason, site.failedAt);
      return new BrokerError(Reason.INVALID_ARGUMENT, `${site.field}: the provider refused it`, { field: site.field, failureReason });
  }
}

/**
 * `err` in the domain's terms: a DecryptError becomes DECRYPT_FAILED (naming
 * the link's provider when `key` is known; other links keep working), a
 * StoreUnavailableError STORE_UNAVAILABLE (never INTERNAL: docs/design.md §3
 * invariant 10), anything else is returned unchanged. The one DecryptError → BrokerError mapping; use
 * it where store reads are caught, and the wire uses it for strays.
 */
export function domainError(err: unknown, key?: { providerId: string }): unknown {
  if (err instanceof StoreUnavailableError) return storeUnavailable(err);
  if (!(err instanceof DecryptError)) return err;
  const what = key === undefined ? "a stored value" : `the stored link for provider ${JSON.stringify(key.providerId)}`;
  return new BrokerError(Reason.DECRYPT_FAILED, `${what} failed to decrypt`, {
    hint: err.keyId !== undefined ? `sealed under key ${err.keyId}` : "check the keyring",
  });
}
