import * as oauth from "oauth4webapi";
import { OAuthError } from "./oauth-error.js";
import type { ProviderEndpoints } from "./provider-endpoints.js";
import { tokenGrant, type GrantOptions, type GrantSender, type TokenSet } from "./token-grant.js";

export type { TokenSet } from "./token-grant.js";
export type RefreshOptions = GrantOptions;

/**
 * Exactly one refresh_token grant request. Every failure, whatever layer it
 * comes from (transport, oauth4webapi validation, the provider's answer),
 * leaves as an OAuthError classified by classify.ts.
 */
export async function refreshGrant(p: ProviderEndpoints, refreshToken: string, opts: RefreshOptions): Promise<TokenSet> {
  if (refreshToken === "") {
    throw new OAuthError({ kind: "permanent", message: "no refresh token to present" });
  }
  return tokenGrant(p, refreshSender(p, refreshToken), opts, [refreshToken]);
}

function refreshSender(p: ProviderEndpoints, refreshToken: string): GrantSender {
  if (p.quirks === "azure-devops") {
    // Legacy Azure DevOps: the refresh token travels as `assertion`, with the redirect URI.
    const params: Record<string, string> = { assertion: refreshToken };
    if (p.redirectUri !== undefined) params.redirect_uri = p.redirectUri;
    return (as, client, auth, options) => oauth.genericTokenEndpointRequest(as, client, auth, "refresh_token", params, options);
  }
  const scopes = p.scopeOnRefresh === true ? (p.scopes ?? []) : [];
  return (as, client, auth, options) =>
    oauth.refreshTokenGrantRequest(as, client, auth, refreshToken, {
      ...options,
      // RFC 6749 §6 lets a refresh narrow the scope; Entra v2 wants it named.
      ...(scopes.length > 0 ? { additionalParameters: { scope: scopes.join(" ") } } : {}),
    });
}
