import * as oauth from "oauth4webapi";
import { OAuthError } from "./oauth-error.js";
import { tokenGrant, type GrantOptions, type GrantProvider, type GrantSender } from "./token-grant.js";
import type { TokenSet } from "./token-normalize.js";

export interface CodeExchangeRequest extends GrantOptions {
  /** The `code` query parameter of the callback; the caller has already checked `state`. */
  code: string;
  /** Exactly the redirect_uri sent on the authorize URL (RFC 6749 §4.1.3). */
  redirectUri: string;
  /** The PKCE verifier kept since StartLink; omit when PKCE was not used. */
  codeVerifier?: string | undefined;
}

const JWT_BEARER_GRANT = "urn:ietf:params:oauth:grant-type:jwt-bearer";

/**
 * Redeems an authorization code (RFC 6749 §4.1.3, RFC 7636 §4.5) through
 * the same request path, HTTP-200-error handling and classification as a
 * refresh. Errors: invalid_grant (a used, expired or foreign code, or a
 * verifier that does not match) is `permanent`; client-credential codes
 * are `client_credentials`; transport trouble is `transient`. A code is
 * single-use, so the caller must not retry a permanent failure.
 */
export async function exchangeCode(p: GrantProvider, req: CodeExchangeRequest): Promise<TokenSet> {
  if (req.code === "") throw new OAuthError({ kind: "permanent", sent: "not_sent", message: "no authorization code to exchange" });
  const secrets = req.codeVerifier === undefined ? [req.code] : [req.code, req.codeVerifier];
  return tokenGrant(p, codeSender(p, req), { timeoutMs: req.timeoutMs, bodyTimeoutMs: req.bodyTimeoutMs, signal: req.signal, now: req.now }, secrets);
}

function codeSender(p: GrantProvider, req: CodeExchangeRequest): GrantSender {
  if (p.quirks === "azure-devops") {
    // Legacy Azure DevOps OAuth: the "code" is a JWT assertion redeemed with the jwt-bearer grant.
    const params = { assertion: req.code, redirect_uri: req.redirectUri };
    return (as, client, auth, options) => oauth.genericTokenEndpointRequest(as, client, auth, JWT_BEARER_GRANT, params, options);
  }
  return (as, client, auth, options) => {
    // oauth4webapi only takes callback parameters it has validated; `state`
    // was already checked (hashed, single-use) by the caller, so skip it here.
    const callback = oauth.validateAuthResponse(as, client, new URLSearchParams({ code: req.code }), oauth.skipStateCheck);
    return oauth.authorizationCodeGrantRequest(as, client, auth, callback, req.redirectUri, req.codeVerifier ?? oauth.nopkce, options);
  };
}
