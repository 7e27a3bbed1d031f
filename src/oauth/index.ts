// The public surface of the provider HTTP client; everything else in src/oauth is internal.
export { providerEndpoints, type ProviderEndpoints, type EndpointSource } from "./provider-endpoints.js";
export type { OAuthProvider, PkceMethod, RevocationStyle, ProviderQuirks, TokenAuthMethod } from "./provider.js";
export {
  OAuthError,
  isOAuthError,
  failureReason,
  FAILURE_REASON_MAX_BYTES,
  type OAuthErrorKind,
  type OAuthErrorInit,
} from "./oauth-error.js";
export {
  classify,
  CLASSIFICATION_RULES,
  CLIENT_CREDENTIAL_ERRORS,
  PERMANENT_ERRORS,
  type ClassifyInput,
  type Classification,
} from "./classify.js";
export { parseRetryAfter, hasRateLimitSignal, retryDelayMs, type HeaderLookup } from "./rate-limit-headers.js";
export { redactSecrets, truncateUtf8 } from "./redact.js";
export { isLoopbackUrl, isAllowedTransport } from "./loopback.js";
export { MAX_BODY_BYTES } from "./http.js";
export { refreshGrant, type TokenSet, type RefreshOptions } from "./refresh.js";
export { refreshWithRetry, isRetryable, type RetryOptions } from "./refresh-retry.js";
export {
  validateToken,
  validationOutcome,
  slackValidationOutcome,
  type ValidationOutcome,
  type ValidationResult,
  type ValidateOptions,
} from "./validate.js";
export type { GrantOptions, GrantProvider } from "./token-grant.js";
export { createPkce, choosePkceMethod, generateState, type PkcePair } from "./pkce.js";
export { buildAuthorizeUrl, RESERVED_AUTHORIZE_PARAMS, type AuthorizeRequest, type AuthorizeProvider } from "./authorize.js";
export { exchangeCode, type CodeExchangeRequest } from "./code-exchange.js";
export {
  startDeviceAuthorization,
  pollDeviceToken,
  parseDeviceAuthorization,
  deviceErrorStatus,
  DEFAULT_DEVICE_INTERVAL_SEC,
  SLOW_DOWN_INCREMENT_SEC,
  type DeviceAuthorization,
  type DevicePollResult,
  type DeviceProvider,
  type DeviceStartOptions,
} from "./device-flow.js";
export {
  revokeTokens,
  planRevocation,
  revocationAnswer,
  GITHUB_API_VERSION,
  type RevokeProvider,
  type RevokeRequest,
  type RevokeResult,
  type PlannedRevocation,
} from "./revoke.js";
export {
  discoverOidc,
  applyDiscovery,
  endpointsFromMetadata,
  type OidcEndpoints,
  type DiscoveryTarget,
  type DiscoverableField,
} from "./discovery.js";
