import type { DecryptError } from "../crypto/sealer.js";
import { BrokerError, Reason } from "../errors.js";
import type { LinkKey } from "../store/link-store.js";

// The engine's answers, one constructor each, so every path words them alike.

export function providerNotFound(id: string): BrokerError {
  return new BrokerError(Reason.PROVIDER_NOT_FOUND, `unknown provider ${JSON.stringify(id)}`, { hint: "AdminService.ListProviders lists the configured providers" });
}

export function linkNotFound(key: LinkKey): BrokerError {
  return new BrokerError(Reason.LINK_NOT_FOUND, `no link for this user at provider ${JSON.stringify(key.providerId)}`, {
    hint: "create one with StartLink (tokenbroker link)",
  });
}

export function decryptFailed(key: LinkKey, err: DecryptError): BrokerError {
  return new BrokerError(Reason.DECRYPT_FAILED, `the stored link for provider ${JSON.stringify(key.providerId)} failed to decrypt`, {
    hint: err.keyId !== undefined ? `sealed under key ${err.keyId}` : "check the keyring",
  });
}

export function misconfiguredError(providerId: string, reason: string, retryAfterMs: number): BrokerError {
  return new BrokerError(Reason.PROVIDER_MISCONFIGURED, `provider ${JSON.stringify(providerId)} rejected tokenbroker's client credentials`, {
    failureReason: reason,
    retryAfterMs,
    hint: "fix client_id or client_secret in the provider's configuration",
  });
}

export function unavailable(providerId: string, what: string, retryAfterMs: number): BrokerError {
  return new BrokerError(Reason.PROVIDER_UNAVAILABLE, `provider ${JSON.stringify(providerId)}: ${what}`, { retryAfterMs });
}

export function reauth(reason: string, failedAt: number): BrokerError {
  return new BrokerError(Reason.REAUTH_REQUIRED, "the provider rejected the refresh token; the user has to link again", {
    failureReason: reason,
    failedAt,
    hint: "link again with StartLink (tokenbroker link)",
  });
}
