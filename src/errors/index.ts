// The domain's error vocabulary (docs/design.md §9): the entry other rooms import.
// It knows nothing of the wire; rpc/wire-error.ts turns these into gRPC statuses.
export { BrokerError, Reason, type BrokerErrorDetail } from "./broker-error.js";
export {
  linkNotFound,
  minValidityUnreachable,
  noRefreshToken,
  nothingToUnlink,
  NOTHING_TO_UNLINK_HINT,
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
} from "./constructors.js";
export { domainError, fromOAuthError, type OAuthFailureSite } from "./mappings.js";
