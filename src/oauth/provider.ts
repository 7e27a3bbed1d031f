/**
 * The vocabulary shared by the link-lifecycle functions (authorize, code
 * exchange, device flow, revocation). Each function asks only for the
 * fields it uses (a Pick of OAuthProvider), so the resolved ProviderConfig
 * of src/config fits structurally and tests can pass small literals.
 * Optional fields accept `undefined` explicitly because the config layer
 * resolves "not configured" to undefined.
 */

/** PKCE methods in preference order; `none` (alone) opts out. */
export type PkceMethod = "S256" | "plain" | "none";

/**
 * How a provider takes tokens back on unlink:
 * - rfc7009: POST to the revocation endpoint with client authentication.
 * - github-grant: DELETE {api}/applications/{client_id}/grant, Basic auth, 204.
 * - slack: auth.revoke called with the token itself.
 * - none: the provider offers no revocation API.
 */
export type RevocationStyle = "rfc7009" | "github-grant" | "slack" | "none";

/**
 * Where a provider departs from RFC 6749 on the wire:
 * - github: errors arrive as HTTP 200 bodies (token and device endpoints).
 * - slack: errors arrive as HTTP 200 `{ok:false,error}`; scopes are comma-separated.
 * - jfrog: the token request carries `Authorization: Bearer <client_secret>`.
 * - azure-devops: the legacy Azure DevOps OAuth (response_type=Assertion,
 *   client_assertion = client secret, code sent as `assertion`).
 * - standard: none of the above.
 * HTTP-200 error bodies are handled for every provider (token-response.ts);
 * the github/slack values matter where a dialect changes a request.
 */
export type ProviderQuirks = "standard" | "github" | "slack" | "jfrog" | "azure-devops";

export type TokenAuthMethod = "client_secret_basic" | "client_secret_post";

export interface OAuthProvider {
  /** The provider id from the config; used only in messages, never sent. */
  id: string;
  clientId: string;
  clientSecret: string;
  authUrl?: string | undefined;
  tokenUrl: string;
  validateUrl?: string | undefined;
  revokeUrl?: string | undefined;
  deviceCodeUrl?: string | undefined;
  apiBaseUrl?: string | undefined;
  scopes: readonly string[];
  extraTokenKeys: readonly string[];
  pkceMethods: readonly PkceMethod[];
  tokenAuthMethod: TokenAuthMethod;
  /** Constant query parameters for the authorize URL (e.g. an Auth0 `audience`). */
  authUrlParams: Readonly<Record<string, string>>;
  revocation: RevocationStyle;
  quirks: ProviderQuirks;
  /** Send the configured scopes on refresh too (Entra v2 expects them). */
  scopeOnRefresh?: boolean | undefined;
  /**
   * The lifetime (whole seconds, 1 to 10 years) assumed for an access token
   * whose response has no usable `expires_in` (`default_token_lifetime`;
   * rules in docs/design.md §3.1).
   */
  defaultTokenLifetimeSec?: number | undefined;
}
