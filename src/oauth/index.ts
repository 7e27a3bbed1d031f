// The only entry to src/oauth for other rooms: exactly what they use. Tests of
// this room import its modules directly.
export type { OAuthProvider, PkceMethod, RevocationStyle, ProviderQuirks, TokenAuthMethod } from "./provider.js";
export { OAuthError, boundFailureReason, failureReason, type OAuthErrorKind } from "./oauth-error.js";
export { isAllowedTransport } from "./loopback.js";
export { MAX_TOKEN_LIFETIME_SEC, type TokenSet } from "./token-normalize.js";
export { refreshWithRetry } from "./refresh-retry.js";
export { refreshGrant } from "./refresh.js";
export { judgeTokenAnswer } from "./token-grant.js";
export type { TokenExchange } from "./token-endpoint-fetch.js";
export { validateToken } from "./validate.js";
export { accountFromIdToken, fetchAccount, grantedScopesOf } from "./account.js";
export { createPkce, generateState } from "./pkce.js";
export { buildAuthorizeUrl, RESERVED_AUTHORIZE_PARAMS } from "./authorize.js";
export { exchangeCode } from "./code-exchange.js";
export { startDeviceAuthorization, pollDeviceToken, SLOW_DOWN_INCREMENT_SEC } from "./device-flow.js";
export { revokeTokens } from "./revoke.js";
export { discoverOidc, applyDiscovery, type DiscoverableField } from "./discovery.js";
