import * as oauth from "oauth4webapi";
import { OAuthError } from "./oauth-error.js";
import type { OAuthProvider } from "./provider.js";
import { tokenGrant, type GrantOptions, type GrantProvider, type GrantSender } from "./token-grant.js";
import type { TokenSet } from "./token-normalize.js";

/** What a refresh reads of a provider; a resolved ProviderConfig fits as it is. */
export type RefreshProvider = GrantProvider & Pick<OAuthProvider, "scopes" | "scopeOnRefresh">;

export interface RefreshOptions extends GrantOptions {
  /**
   * The link callback (`{public_url}/oauth/{id}/callback`); only legacy
   * Azure DevOps wants it on refresh too.
   */
  redirectUri?: string | undefined;
}

/**
 * Exactly one refresh_token grant request. Every failure, whatever layer it
 * comes from (transport, request building, the provider's answer), leaves
 * as an OAuthError classified by classify.ts; every 2xx that carries a
 * token resolves (token-grant.ts).
 */
export async function refreshGrant(p: RefreshProvider, refreshToken: string, opts: RefreshOptions): Promise<TokenSet> {
  if (refreshToken === "") {
    throw new OAuthError({ kind: "permanent", sent: "not_sent", message: "no refresh token to present" });
  }
  const { redirectUri, ...grant } = opts;
  return tokenGrant(p, refreshSender(p, refreshToken, redirectUri), grant, [refreshToken]);
}

function refreshSender(p: RefreshProvider, refreshToken: string, redirectUri: string | undefined): GrantSender {
  if (p.quirks === "azure-devops") {
    // Legacy Azure DevOps: the refresh token travels as `assertion`, with the redirect URI.
    const params: Record<string, string> = { assertion: refreshToken };
    if (redirectUri !== undefined) params.redirect_uri = redirectUri;
    return (as, client, auth, options) => oauth.genericTokenEndpointRequest(as, client, auth, "refresh_token", params, options);
  }
  const scopes = p.scopeOnRefresh === true ? p.scopes : [];
  return (as, client, auth, options) =>
    oauth.refreshTokenGrantRequest(as, client, auth, refreshToken, {
      ...options,
      // RFC 6749 §6 lets a refresh narrow the scope; Entra v2 wants it named.
      ...(scopes.length > 0 ? { additionalParameters: { scope: scopes.join(" ") } } : {}),
    });
}
