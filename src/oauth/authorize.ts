import { OAuthError } from "./oauth-error.js";
import type { OAuthProvider } from "./provider.js";

/**
 * Parameters the broker owns on every authorize URL. auth_url_params may not
 * set them: a constant `state` would defeat CSRF protection, a constant
 * `redirect_uri` or `code_challenge` would hand the code to someone else.
 * The config loader rejects them; buildAuthorizeUrl also writes them last.
 */
export const RESERVED_AUTHORIZE_PARAMS: ReadonlySet<string> = new Set([
  "response_type",
  "client_id",
  "redirect_uri",
  "state",
  "scope",
  "code_challenge",
  "code_challenge_method",
]);

export interface AuthorizeRequest {
  state: string;
  redirectUri: string;
  /** From createPkce; omit both for a provider that opted out of PKCE. */
  codeChallenge?: string | undefined;
  codeChallengeMethod?: "S256" | "plain" | undefined;
  scopes: readonly string[];
}

export type AuthorizeProvider = Pick<OAuthProvider, "id" | "authUrl" | "clientId" | "authUrlParams" | "quirks">;

/**
 * The URL to send the user's browser to (RFC 6749 §4.1.1, RFC 7636 §4.3).
 * Pure: no I/O, the same input gives the same URL. Any query the configured
 * authorize URL already carries (e.g. a tenant hint) is kept.
 */
export function buildAuthorizeUrl(p: AuthorizeProvider, req: AuthorizeRequest): string {
  if (p.authUrl === undefined || p.authUrl === "") {
    throw new OAuthError({ kind: "client_credentials", sent: "not_sent", message: `provider ${p.id} has no authorization endpoint configured` });
  }
  if ((req.codeChallenge === undefined) !== (req.codeChallengeMethod === undefined)) {
    // A challenge without its method is read as "plain" by servers: never send half a pair.
    throw new TypeError("codeChallenge and codeChallengeMethod go together");
  }
  const url = new URL(p.authUrl);
  for (const [k, v] of Object.entries(p.authUrlParams)) {
    if (!RESERVED_AUTHORIZE_PARAMS.has(k)) url.searchParams.set(k, v);
  }
  // Legacy Azure DevOps OAuth answers with an "assertion" rather than a code.
  url.searchParams.set("response_type", p.quirks === "azure-devops" ? "Assertion" : "code");
  url.searchParams.set("client_id", p.clientId);
  url.searchParams.set("redirect_uri", req.redirectUri);
  url.searchParams.set("state", req.state);
  if (req.scopes.length > 0) {
    // Slack's v2 authorize endpoint documents comma-separated scopes.
    url.searchParams.set("scope", req.scopes.join(p.quirks === "slack" ? "," : " "));
  }
  if (req.codeChallenge !== undefined && req.codeChallengeMethod !== undefined) {
    url.searchParams.set("code_challenge", req.codeChallenge);
    url.searchParams.set("code_challenge_method", req.codeChallengeMethod);
  }
  return url.toString();
}
