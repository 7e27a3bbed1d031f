import { fetchBounded, type TransportLimits } from "./http.js";
import { isAllowedTransport } from "./loopback.js";

/**
 * Which account at the provider a token belongs to, as `gh auth status`
 * shows it: the login or username the provider's user endpoint names
 * (GitHub and Gitea `login`, GitLab and Bitbucket `username`, OIDC
 * userinfo `preferred_username` / `email` / `sub`, Slack's `user`, Azure
 * DevOps' `emailAddress`), or an ID token's claims. A label for people,
 * never an authorization decision: nothing here is verified beyond the
 * TLS connection it came over (OIDC Core §3.1.3.7 (6) for an ID token
 * from the token endpoint). Not a secret, but never a metrics label.
 */

/** The members tried, in order; the first usable string wins. */
const ACCOUNT_MEMBERS = ["login", "username", "preferred_username", "user", "emailAddress", "email", "sub"] as const;

/** Longest account name kept; anything longer is not a name. */
const MAX_ACCOUNT_LENGTH = 256;

/** A printable name: no control characters, not blank, not absurdly long. */
function usableName(v: unknown): string | undefined {
  if (typeof v !== "string") return undefined;
  const name = v.trim();
  if (name === "" || name.length > MAX_ACCOUNT_LENGTH || /[\u0000-\u001f\u007f]/.test(name)) return undefined;
  return name;
}

/** The account a JSON object (a user endpoint's answer, an ID token's claims) names. Pure. */
export function accountFromClaims(json: unknown): string | undefined {
  if (typeof json !== "object" || json === null || Array.isArray(json)) return undefined;
  const body = json as Record<string, unknown>;
  for (const member of ACCOUNT_MEMBERS) {
    const name = usableName(body[member]);
    if (name !== undefined) return name;
  }
  return undefined;
}

/** The account an ID token's payload names (a compact JWS: header.payload.signature); undefined when it is not one. */
export function accountFromIdToken(idToken: unknown): string | undefined {
  if (typeof idToken !== "string") return undefined;
  const parts = idToken.split(".");
  if (parts.length !== 3 || parts[1] === undefined) return undefined;
  try {
    return accountFromClaims(JSON.parse(Buffer.from(parts[1], "base64url").toString("utf8")));
  } catch {
    return undefined;
  }
}

/**
 * Asks the provider's user endpoint (the validate URL) whose token this is.
 * Never throws: a failure, a non-2xx answer or a body naming nobody is
 * undefined — the link is stored all the same, its account unknown. A URL
 * that is neither https nor loopback http is not contacted.
 */
export async function fetchAccount(url: string, accessToken: string, opts: TransportLimits): Promise<string | undefined> {
  if (!isAllowedTransport(url) || accessToken === "") return undefined;
  try {
    const x = await fetchBounded(
      url,
      { method: "GET", headers: { authorization: `Bearer ${accessToken}`, "user-agent": "tokenbroker", accept: "application/json" } },
      opts,
      "validate endpoint",
    );
    if (x.status < 200 || x.status > 299) return undefined;
    return accountFromClaims(JSON.parse(new TextDecoder().decode(x.body)));
  } catch {
    return undefined;
  }
}

/**
 * The granted scopes a token response's `scope` names (RFC 6749 §5.1:
 * space-delimited); undefined when it named none, which keeps what is
 * stored (§6: the scope is then unchanged).
 */
export function grantedScopesOf(scope: string | undefined): string[] | undefined {
  if (scope === undefined) return undefined;
  // Some providers (GitHub's form answers) separate with commas as well.
  const scopes = [...new Set(scope.split(/[\s,]+/).filter((s) => s !== ""))];
  return scopes;
}
