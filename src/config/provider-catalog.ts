import type { PkceMethod, ProviderQuirks, RevocationStyle, TokenAuthMethod } from "../oauth/index.js";
import type { ProviderType } from "./schema.js";

/**
 * Defaults per provider type, taken from each provider's public
 * documentation (named on each entry). Self-hosted types derive their URLs
 * from the host (and path prefix) of the configured `auth_url`; an explicit
 * setting in the config always beats a default.
 */

/** Where a provider lives: origin plus any path prefix (GitLab under /gitlab, an Entra tenant). */
export type ProviderBase = string;

interface Urls {
  authUrl?: string;
  tokenUrl?: string;
  validateUrl?: string;
  revokeUrl?: string;
  deviceCodeUrl?: string;
  apiBaseUrl?: string;
}

export interface CatalogEntry {
  displayName: string;
  /** The public service's base when auth_url is not set; absent: auth_url is required. */
  cloudBase?: ProviderBase;
  /** The authorize path below the base, used to find the base inside a configured auth_url. */
  authorizePath?: string;
  /** URLs below the base; clientId for providers that put it in a path (GitHub, JFrog). */
  urls?: (base: ProviderBase, clientId: string) => Urls;
  /** Regex host pattern for MatchProvider; receives the base's escaped host when self-hosted. */
  host?: (escapedHost: string, isCloud: boolean) => string;
  scopes: string[];
  extraTokenKeys: string[];
  pkceMethods: PkceMethod[];
  /** Whether the provider has an RFC 8628 device authorization endpoint. */
  deviceFlow: boolean;
  revocation: RevocationStyle;
  tokenAuthMethod: TokenAuthMethod;
  quirks: ProviderQuirks;
  scopeOnRefresh?: boolean;
  /** oidc: endpoints come from the issuer's discovery document at startup. */
  discovery?: boolean;
}

const esc = (s: string): string => s.replace(/[.*+?^${}()|[\]\\]/g, "\\$&");

export const CATALOG: Readonly<Record<ProviderType, CatalogEntry>> = {
  // GitHub docs: "Authorizing OAuth apps" (web and device flows), "Generating a
  // user access token for a GitHub App", REST "Delete an app authorization"
  // (DELETE /applications/{client_id}/grant, Basic auth, 204), and the July 2025
  // changelog "PKCE support for OAuth and GitHub App authentication" (S256 only).
  // Token requests take client_id/client_secret as parameters. Enterprise Server
  // (auth_url on another host) serves the API under /api/v3.
  github: {
    displayName: "GitHub",
    cloudBase: "https://github.com",
    authorizePath: "/login/oauth/authorize",
    urls: (base, clientId) => {
      const api = base === "https://github.com" ? "https://api.github.com" : `${base}/api/v3`;
      return {
        authUrl: `${base}/login/oauth/authorize`,
        tokenUrl: `${base}/login/oauth/access_token`,
        deviceCodeUrl: `${base}/login/device/code`,
        validateUrl: `${api}/user`,
        apiBaseUrl: api,
        revokeUrl: `${api}/applications/${encodeURIComponent(clientId)}/grant`,
      };
    },
    host: (h, cloud) => (cloud ? "(?:www\\.|api\\.)?github\\.com" : h),
    scopes: ["repo", "workflow"],
    extraTokenKeys: [],
    pkceMethods: ["S256"],
    deviceFlow: true,
    revocation: "github-grant",
    tokenAuthMethod: "client_secret_post",
    quirks: "github",
  },
  // GitLab docs: "OAuth 2.0 identity provider API" (authorization code with PKCE,
  // device authorization grant from 17.1 at /oauth/authorize_device, /oauth/revoke
  // per RFC 7009) and REST API "Users" (GET /api/v4/user). Self-managed: same
  // paths under the instance URL (including a relative URL root).
  gitlab: {
    displayName: "GitLab",
    cloudBase: "https://gitlab.com",
    authorizePath: "/oauth/authorize",
    urls: (base) => ({
      authUrl: `${base}/oauth/authorize`,
      tokenUrl: `${base}/oauth/token`,
      deviceCodeUrl: `${base}/oauth/authorize_device`,
      revokeUrl: `${base}/oauth/revoke`,
      apiBaseUrl: `${base}/api/v4`,
      validateUrl: `${base}/api/v4/user`,
    }),
    host: (h) => h,
    scopes: ["write_repository", "read_api"],
    extraTokenKeys: [],
    pkceMethods: ["S256"],
    deviceFlow: true,
    revocation: "rfc7009",
    tokenAuthMethod: "client_secret_post",
    quirks: "standard",
  },
  // Bitbucket Cloud docs: "OAuth on Bitbucket Cloud" (site/oauth2/authorize and
  // access_token, client credentials via HTTP Basic) and REST API 2.0 GET /user.
  // No PKCE, device flow or revocation endpoint is documented.
  "bitbucket-cloud": {
    displayName: "Bitbucket",
    cloudBase: "https://bitbucket.org",
    authorizePath: "/site/oauth2/authorize",
    urls: (base) => ({
      authUrl: `${base}/site/oauth2/authorize`,
      tokenUrl: `${base}/site/oauth2/access_token`,
      apiBaseUrl: "https://api.bitbucket.org/2.0",
      validateUrl: "https://api.bitbucket.org/2.0/user",
    }),
    host: () => "(?:api\\.)?bitbucket\\.org",
    scopes: ["account", "repository:write"],
    extraTokenKeys: [],
    pkceMethods: ["none"],
    deviceFlow: false,
    revocation: "none",
    tokenAuthMethod: "client_secret_basic",
    quirks: "standard",
  },
  // Bitbucket Data Center docs: "Bitbucket OAuth 2.0 provider API" (incoming
  // application links; /rest/oauth2/latest/authorize and /token; authorization
  // code with PKCE). Always self-hosted, so auth_url is required.
  "bitbucket-server": {
    displayName: "Bitbucket Server",
    authorizePath: "/rest/oauth2/latest/authorize",
    urls: (base) => ({
      authUrl: `${base}/rest/oauth2/latest/authorize`,
      tokenUrl: `${base}/rest/oauth2/latest/token`,
      apiBaseUrl: `${base}/rest/api/latest`,
      // Answers 200 signed in and 401 otherwise, and costs the server little.
      validateUrl: `${base}/rest/api/latest/inbox/pull-requests/count`,
    }),
    host: (h) => h,
    scopes: ["PUBLIC_REPOS", "REPO_READ", "REPO_WRITE"],
    extraTokenKeys: [],
    pkceMethods: ["S256"],
    deviceFlow: false,
    revocation: "none",
    tokenAuthMethod: "client_secret_post",
    quirks: "standard",
  },
  // Azure DevOps docs: "Use Azure DevOps OAuth 2.0" (app.vssps.visualstudio.com,
  // response_type=Assertion, client_assertion = client secret, jwt-bearer grant).
  // Deprecated by Microsoft: no new registrations since April 2025; prefer
  // azure-devops-entra. Profiles API "Get" validates.
  "azure-devops": {
    displayName: "Azure DevOps",
    cloudBase: "https://app.vssps.visualstudio.com",
    authorizePath: "/oauth2/authorize",
    urls: (base) => ({
      authUrl: `${base}/oauth2/authorize`,
      tokenUrl: `${base}/oauth2/token`,
      apiBaseUrl: "https://dev.azure.com",
      validateUrl: "https://app.vssps.visualstudio.com/_apis/profile/profiles/me?api-version=7.1",
    }),
    host: () => AZURE_DEVOPS_HOSTS,
    scopes: ["vso.code_write"],
    extraTokenKeys: [],
    pkceMethods: ["none"],
    deviceFlow: false,
    revocation: "none",
    tokenAuthMethod: "client_secret_post",
    quirks: "azure-devops",
  },
  // Microsoft identity platform docs: "OAuth 2.0 authorization code flow" and
  // "device authorization grant" (v2.0 endpoints, PKCE S256), and Azure DevOps
  // "Use Microsoft Entra ID OAuth" (resource 499b84ac-1321-427f-aa17-267ca6975798,
  // `.default` scope, offline_access for refresh tokens). Entra has no revocation
  // endpoint. The tenant is the first path segment of auth_url (default
  // "organizations": Azure DevOps needs work or school accounts).
  "azure-devops-entra": {
    displayName: "Azure DevOps (Entra ID)",
    cloudBase: "https://login.microsoftonline.com/organizations",
    authorizePath: "/oauth2/v2.0/authorize",
    urls: (base) => ({
      authUrl: `${base}/oauth2/v2.0/authorize`,
      tokenUrl: `${base}/oauth2/v2.0/token`,
      deviceCodeUrl: `${base}/oauth2/v2.0/devicecode`,
      apiBaseUrl: "https://dev.azure.com",
      validateUrl: "https://app.vssps.visualstudio.com/_apis/profile/profiles/me?api-version=7.1",
    }),
    host: () => AZURE_DEVOPS_HOSTS,
    scopes: ["499b84ac-1321-427f-aa17-267ca6975798/.default", "offline_access"],
    extraTokenKeys: [],
    pkceMethods: ["S256"],
    deviceFlow: true,
    revocation: "none",
    tokenAuthMethod: "client_secret_post",
    quirks: "standard",
    scopeOnRefresh: true,
  },
  // Gitea docs: "OAuth2 provider" (/login/oauth/authorize, /login/oauth/access_token,
  // PKCE) and the API under /api/v1 (GET /api/v1/user). No revocation or device
  // endpoint. Self-hosted instances: same paths under the instance URL.
  gitea: {
    displayName: "Gitea",
    cloudBase: "https://gitea.com",
    authorizePath: "/login/oauth/authorize",
    urls: (base) => ({
      authUrl: `${base}/login/oauth/authorize`,
      tokenUrl: `${base}/login/oauth/access_token`,
      apiBaseUrl: `${base}/api/v1`,
      validateUrl: `${base}/api/v1/user`,
    }),
    host: (h) => h,
    scopes: ["read:repository", "write:repository", "read:user"],
    extraTokenKeys: [],
    pkceMethods: ["S256"],
    deviceFlow: false,
    revocation: "none",
    tokenAuthMethod: "client_secret_post",
    quirks: "standard",
  },
  // JFrog Platform OAuth integrations as Coder's external-auth integration uses
  // them (JFrog's own pages were not found): authorize at {host}/ui/authorization,
  // token at {host}/access/api/v1/integrations/{client_id}/token with the client
  // secret as a bearer token, GET /access/api/v1/system/ping to validate.
  // Always self-hosted (each platform has its own host): auth_url is required.
  jfrog: {
    displayName: "JFrog",
    authorizePath: "/ui/authorization",
    urls: (base, clientId) => ({
      authUrl: `${base}/ui/authorization`,
      tokenUrl: `${base}/access/api/v1/integrations/${encodeURIComponent(clientId)}/token`,
      validateUrl: `${base}/access/api/v1/system/ping`,
      apiBaseUrl: `${base}/access/api/v1`,
    }),
    host: (h) => h,
    scopes: ["applied-permissions/user"],
    extraTokenKeys: [],
    pkceMethods: ["none"],
    deviceFlow: false,
    revocation: "none",
    tokenAuthMethod: "client_secret_post",
    quirks: "jfrog",
  },
  // Slack docs: "Installing with OAuth" (oauth/v2/authorize, comma-separated
  // scopes, user scopes via `user_scope`), oauth.v2.access (HTTP Basic preferred),
  // auth.test and auth.revoke. Errors come as HTTP 200 {ok:false}. The user
  // token of a v2 install sits in authed_user, hence the extra keys. PKCE is not
  // on by default: oauth.v2.access documents code_verifier, authorize does not.
  slack: {
    displayName: "Slack",
    cloudBase: "https://slack.com",
    authorizePath: "/oauth/v2/authorize",
    urls: () => ({
      authUrl: "https://slack.com/oauth/v2/authorize",
      tokenUrl: "https://slack.com/api/oauth.v2.access",
      validateUrl: "https://slack.com/api/auth.test",
      revokeUrl: "https://slack.com/api/auth.revoke",
      apiBaseUrl: "https://slack.com/api",
    }),
    scopes: [],
    extraTokenKeys: ["authed_user.id", "authed_user.access_token", "team.id"],
    pkceMethods: ["none"],
    deviceFlow: false,
    revocation: "slack",
    tokenAuthMethod: "client_secret_basic",
    quirks: "slack",
  },
  // Generic RFC 6749: every URL explicit. RFC 6749 §2.3.1 makes HTTP Basic the
  // method every server must accept; RFC 9700 recommends PKCE S256.
  oauth2: {
    displayName: "OAuth2",
    scopes: [],
    extraTokenKeys: [],
    pkceMethods: ["S256"],
    deviceFlow: true,
    revocation: "rfc7009",
    tokenAuthMethod: "client_secret_basic",
    quirks: "standard",
  },
  // OpenID Connect Discovery 1.0: endpoints from {issuer}/.well-known/openid-configuration,
  // fetched at startup (src/oauth/discovery.ts); userinfo validates tokens.
  oidc: {
    displayName: "OpenID Connect",
    scopes: ["openid", "offline_access"],
    extraTokenKeys: [],
    pkceMethods: ["S256"],
    deviceFlow: true,
    revocation: "rfc7009",
    tokenAuthMethod: "client_secret_basic",
    quirks: "standard",
    discovery: true,
  },
};

const AZURE_DEVOPS_HOSTS = "(?:(?:ssh\\.)?dev\\.azure\\.com|vs-ssh\\.visualstudio\\.com|[a-z0-9][a-z0-9-]*\\.visualstudio\\.com)";

/**
 * A MatchProvider regex for one host pattern, matching the URL shapes git
 * and API clients use: scheme://[user@]host[:port][/path], and the scp-like
 * [user@]host:path or bare host/path. It refuses host confusion, because a
 * caller hands the matched provider's token to that URL:
 * `https://github.com@evil.example/`, `https://github.com:443@evil.example/`
 * and `https://evil.example\@github.com/` (WHATWG URL reads `\` as `/`) do
 * not match. Compiled case-insensitively (hosts are).
 */
export function hostRegex(hostPattern: string): string {
  return (
    `^(?:(?:https?|ssh|git)://(?:[^@/?#\\\\\\s]+@)?${hostPattern}(?::\\d+)?(?:[/?#].*)?` +
    `|(?:[^@/:\\\\\\s]+@)?${hostPattern}(?:[:/][^@\\\\]*)?)$`
  );
}

/** The defaults of one provider, resolved for its configured auth_url and client id. */
export interface ProviderDefaults extends Urls {
  displayName: string;
  scopes: string[];
  extraTokenKeys: string[];
  /** Source of a RegExp to compile with the "i" flag. */
  regex?: string;
  pkceMethods: PkceMethod[];
  deviceFlowSupported: boolean;
  revocation: RevocationStyle;
  tokenAuthMethod: TokenAuthMethod;
  quirks: ProviderQuirks;
  scopeOnRefresh: boolean;
  discovery: boolean;
}

export interface DefaultsContext {
  /** The configured auth_url, when set: self-hosted URLs derive from it. */
  authUrl?: string | undefined;
  clientId?: string | undefined;
}

/**
 * The base a configured auth_url points at: the URL without the type's
 * authorize path (keeping any prefix, e.g. https://host/gitlab or an Entra
 * tenant), or just its origin when the path is something else. Pure.
 */
export function baseFromAuthUrl(authUrl: string, authorizePath: string | undefined): ProviderBase {
  const u = new URL(authUrl);
  const path = u.pathname.replace(/\/+$/, "");
  if (authorizePath !== undefined && path.endsWith(authorizePath)) {
    return `${u.origin}${path.slice(0, path.length - authorizePath.length)}`;
  }
  return u.origin;
}

/**
 * Pure. Undefined when the type needs an auth_url (self-hosted only) and
 * none was given; the loader reports that as a config error.
 */
export function catalogDefaults(type: ProviderType, ctx: DefaultsContext = {}): ProviderDefaults | undefined {
  const entry = CATALOG[type];
  const configured = ctx.authUrl !== undefined && URL.canParse(ctx.authUrl) ? ctx.authUrl : undefined;
  let base: ProviderBase | undefined;
  if (configured !== undefined) base = baseFromAuthUrl(configured, entry.authorizePath);
  else base = entry.cloudBase;
  if (base === undefined && entry.urls !== undefined) return undefined;

  const urls: Urls = base !== undefined && entry.urls ? entry.urls(base, ctx.clientId ?? "") : {};
  const out: ProviderDefaults = {
    ...urls,
    displayName: entry.displayName,
    scopes: [...entry.scopes],
    extraTokenKeys: [...entry.extraTokenKeys],
    pkceMethods: [...entry.pkceMethods],
    deviceFlowSupported: entry.deviceFlow,
    revocation: entry.revocation,
    tokenAuthMethod: entry.tokenAuthMethod,
    quirks: entry.quirks,
    scopeOnRefresh: entry.scopeOnRefresh ?? false,
    discovery: entry.discovery ?? false,
  };
  if (base !== undefined && entry.host !== undefined) {
    const isCloud = base === entry.cloudBase;
    out.regex = hostRegex(entry.host(esc(new URL(base).hostname), isCloud));
  }
  return out;
}
