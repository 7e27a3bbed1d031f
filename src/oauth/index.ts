// The public surface of the provider HTTP client; everything else in src/oauth is internal.
export type { ProviderEndpoints } from "./provider-endpoints.js";
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
export { validateToken, validationOutcome, type ValidationOutcome, type ValidationResult } from "./validate.js";
