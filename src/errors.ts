// The domain's error vocabulary (docs/design.md §9): the entry other rooms import.
// It knows nothing of the wire; rpc/wire-error.ts turns these into gRPC statuses.
export { BrokerError, Reason, type BrokerErrorDetail } from "./errors/broker-error.js";
export {
  linkNotFound,
  minValidityUnreachable,
  noRefreshToken,
  providerMisconfigured,
  providerNotFound,
  providerRateLimited,
  providerUnavailable,
  reauthRecorded,
  reauthRequired,
  refreshedTokenRejected,
  refreshInProgress,
  refreshInterrupted,
  storeUnavailable,
  userNotAllowed,
} from "./errors/constructors.js";
export { domainError, fromOAuthError, type OAuthFailureSite } from "./errors/mappings.js";
