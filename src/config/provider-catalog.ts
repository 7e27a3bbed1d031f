import type { CatalogEntry, GitCredentialStyle, ProviderBase } from "./catalog-entry.js";
import { escapeRegex } from "./host-regex.js";
import type { ProviderType } from "./schema.js";

/**
 * Defaults per provider type, each next to the documentation page it comes
 * from (checked against the stored copies of those pages; where a page could
 * not be found, the comment says so). Self-hosted types derive their URLs
 * from the host (and path prefix) of the configured `auth_url`; a configured
 * `api_base_url` moves the URLs that live under the API; an explicit setting
 * in the config always beats a default (src/config/catalog-defaults.ts).
 *
 * `reuse` (what presenting a rotated refresh token again does) is documented
 * by none of these providers' pages except Entra's, where the old token keeps
 * working ("accepted"); the others are "undocumented", which the engine
 * treats as revoking the grant (docs/design.md §3 invariant 11). A provider
 * known to refuse reuse harmlessly can be declared with `refresh_token_reuse`.
 */

const GITHUB_COM = "https://github.com";

/**
 * The REST API of a GitHub base: api.github.com for github.com,
 * api.SUBDOMAIN.ghe.com for Enterprise Cloud with data residency, and
 * {base}/api/v3 for Enterprise Server (any other host). Pure.
 */
export function githubApiBase(base: ProviderBase): string {
  if (base === GITHUB_COM) return "https://api.github.com";
  const host = new URL(base).hostname;
  if (isGheCom(host)) return `https://api.${host}`;
  return `${base}/api/v3`;
}

/** SUBDOMAIN.ghe.com, GitHub Enterprise Cloud with data residency. */
function isGheCom(hostname: string): boolean {
  return /^[a-z0-9](?:[a-z0-9-]*[a-z0-9])?\.ghe\.com$/.test(hostname);
}

/**
 * Azure Repos hosts: dev.azure.com (SSH at ssh.dev.azure.com) and the older
 * {organization}.visualstudio.com (SSH at vs-ssh.visualstudio.com). Microsoft
 * serves other sites under visualstudio.com too; the ones known not to be an
 * organization are refused, so their URLs never get an Azure DevOps token.
 * Organization names: letters, digits and hyphens, starting and ending with a
 * letter or digit (https://learn.microsoft.com/en-us/azure/devops/organizations/settings/rename-organization).
 */
// The Visual Studio Marketplace, the VS Code site, the product site, the subscriptions portal, Visual Studio Online.
const NOT_AN_ORGANIZATION = ["marketplace", "code", "www", "my", "online"];
const AZURE_DEVOPS_HOSTS =
  "(?:ssh\\.)?dev\\.azure\\.com|vs-ssh\\.visualstudio\\.com" +
  `|(?!(?:${NOT_AN_ORGANIZATION.join("|")})\\.visualstudio\\.com)[a-z0-9](?:[a-z0-9-]*[a-z0-9])?\\.visualstudio\\.com`;

// Microsoft's Profiles - Get: GET app.vssps.visualstudio.com/_apis/profile/profiles/me with
// api-version 7.1-preview.3 and scope vso.profile; a preview API asked for with a non-preview
// api-version answers HTTP 400 (VssInvalidPreviewVersionException), which validation reads as
// "unknown". https://learn.microsoft.com/en-us/rest/api/azure/devops/profile/profiles/get
const AZURE_DEVOPS_PROFILE = "https://app.vssps.visualstudio.com/_apis/profile/profiles/me?api-version=7.1-preview.3";

/**
 * What git sends a provider whose catalog entry documents nothing for git
 * (Bitbucket Data Center, Gitea, the generic types): the token as the
 * password over Basic, with GitLab's placeholder user name, which servers
 * that authenticate by the token alone ignore.
 */
export const GIT_UNDOCUMENTED: GitCredentialStyle = { username: "oauth2", bearer: false, source: "undocumented" };

/** What git sends a provider of this type (tokenbroker git-credential, MatchProvider). */
export function gitCredentialStyle(type: ProviderType): GitCredentialStyle {
  return CATALOG[type].git ?? GIT_UNDOCUMENTED;
}

export const CATALOG: Readonly<Record<ProviderType, CatalogEntry>> = {
  // GitHub:
  // - authorize, token (client_id and client_secret as form parameters), device flow:
  //   https://docs.github.com/en/apps/oauth-apps/building-oauth-apps/authorizing-oauth-apps
  // - PKCE, S256 only: https://github.blog/changelog/2025-07-14-pkce-support-for-oauth-and-github-app-authentication
  // - revocation: DELETE {api}/applications/{client_id}/grant with Basic client auth, 204:
  //   https://docs.github.com/en/rest/apps/oauth-applications#delete-an-app-authorization
  // - API base: api.github.com; Enterprise Server {host}/api/v3; on GHE.com "replace api.github.com
  //   with your enterprise's dedicated subdomain at api.SUBDOMAIN.ghe.com" (on every REST page, e.g.
  //   https://docs.github.com/en/enterprise-cloud@latest/rest/enterprise-admin/network-configurations)
  // - rotation: "Once you use a refresh token, that refresh token and the old user access token will
  //   no longer work" (GitHub Apps; no grace window):
  //   https://docs.github.com/en/apps/creating-github-apps/authenticating-with-a-github-app/refreshing-user-access-tokens
  // - hosts: ssh.github.com:443 is SSH over the HTTPS port
  //   (https://docs.github.com/en/authentication/troubleshooting-ssh/using-ssh-over-the-https-port);
  //   gist.github.com serves each gist as a git repository (GitHub's gist pages; no docs.github.com
  //   page on it was among the stored copies).
  github: {
    displayName: "GitHub",
    // "git clone https://x-access-token:TOKEN@github.com/owner/repo.git": https://docs.github.com/en/apps/creating-github-apps/authenticating-with-a-github-app/authenticating-as-a-github-app-installation
    git: { username: "x-access-token", bearer: false, source: "https://docs.github.com/en/apps/creating-github-apps/authenticating-with-a-github-app/authenticating-as-a-github-app-installation" },
    cloudBase: GITHUB_COM,
    authorizePath: "/login/oauth/authorize",
    apiBase: githubApiBase,
    urls: (base, api, clientId) => ({
      authUrl: `${base}/login/oauth/authorize`,
      tokenUrl: `${base}/login/oauth/access_token`,
      deviceCodeUrl: `${base}/login/device/code`,
      validateUrl: `${api}/user`,
      revokeUrl: `${api}/applications/${encodeURIComponent(clientId)}/grant`,
    }),
    host: (h, cloud) => {
      if (cloud) return "(?:www\\.|api\\.|gist\\.|ssh\\.)?github\\.com";
      return isGheCom(h) ? `(?:api\\.)?${escapeRegex(h)}` : escapeRegex(h);
    },
    scopes: ["repo", "workflow"],
    extraTokenKeys: [],
    pkceMethods: ["S256"],
    deviceFlow: true,
    revocation: "github-grant",
    tokenAuthMethod: "client_secret_post",
    quirks: "github",
    rotation: "single_use",

    reuse: "undocumented",
  },
  // GitLab: https://docs.gitlab.com/api/oauth2/ (authorization code with PKCE, /oauth/revoke per
  // RFC 7009; the device authorization grant at /oauth/authorize_device was introduced in 17.2
  // behind the oauth2_device_grant_flow flag, on by default in 17.3, generally available in 17.9;
  // a refresh "invalidates the existing access_token and refresh_token"), and
  // https://docs.gitlab.com/api/users/ (GET /api/v4/user). Self-managed: the same paths under the
  // instance URL, relative URL root included. gitlab.com also takes SSH at altssh.gitlab.com:443
  // (GitLab's announcement "GitLab.com now supports an alternate git+ssh port"; glab treats it and
  // ssh.gitlab.com as GitLab.com).
  gitlab: {
    displayName: "GitLab",
    // "Access Git over HTTPS with access token": https://oauth2:TOKEN@gitlab.example.com/…, https://docs.gitlab.com/api/oauth2/
    git: { username: "oauth2", bearer: false, source: "https://docs.gitlab.com/api/oauth2/" },
    cloudBase: "https://gitlab.com",
    authorizePath: "/oauth/authorize",
    apiBase: (base) => `${base}/api/v4`,
    urls: (base, api) => ({
      authUrl: `${base}/oauth/authorize`,
      tokenUrl: `${base}/oauth/token`,
      deviceCodeUrl: `${base}/oauth/authorize_device`,
      revokeUrl: `${base}/oauth/revoke`,
      validateUrl: `${api}/user`,
    }),
    host: (h, cloud) => (cloud ? "(?:altssh\\.|ssh\\.)?gitlab\\.com" : escapeRegex(h)),
    scopes: ["write_repository", "read_api"],
    extraTokenKeys: [],
    pkceMethods: ["S256"],
    deviceFlow: true,
    revocation: "rfc7009",
    tokenAuthMethod: "client_secret_post",
    quirks: "standard",
    rotation: "single_use",

    reuse: "undocumented",
  },
  // Bitbucket Cloud: https://developer.atlassian.com/cloud/bitbucket/oauth-2 (site/oauth2/authorize
  // and access_token, client credentials by HTTP Basic; no PKCE, device flow or revocation
  // endpoint) and REST 2.0 GET /user. Since 2026-05-04 "each use of a refresh token will generate a
  // new refresh token" (https://community.developer.atlassian.com/t/oauth-2-0-and-api-authentication-changes-for-bitbucket-cloud/99003).
  // SSH moves to ssh.bitbucket.org by 2026-11-12 (Atlassian's "Upcoming change to Bitbucket Cloud
  // SSH access"); altssh.bitbucket.org:443 is the SSH-over-443 host (widely used; no Atlassian page
  // on it was among the stored copies).
  "bitbucket-cloud": {
    displayName: "Bitbucket Cloud",
    // "Cloning a repository with an access token": https://x-token-auth:{access_token}@bitbucket.org/…, https://developer.atlassian.com/cloud/bitbucket/oauth-2
    git: { username: "x-token-auth", bearer: false, source: "https://developer.atlassian.com/cloud/bitbucket/oauth-2" },
    cloudBase: "https://bitbucket.org",
    authorizePath: "/site/oauth2/authorize",
    apiBase: () => "https://api.bitbucket.org/2.0",
    urls: (base, api) => ({
      authUrl: `${base}/site/oauth2/authorize`,
      tokenUrl: `${base}/site/oauth2/access_token`,
      validateUrl: `${api}/user`,
    }),
    host: () => "(?:api\\.|ssh\\.|altssh\\.)?bitbucket\\.org",
    scopes: ["account", "repository:write"],
    extraTokenKeys: [],
    pkceMethods: ["none"],
    deviceFlow: false,
    revocation: "none",
    tokenAuthMethod: "client_secret_basic",
    quirks: "standard",
    rotation: "single_use",

    reuse: "undocumented",
  },
  // Bitbucket Data Center (formerly Bitbucket Server; the type keeps its old name, alias
  // bitbucket-data-center): "Bitbucket OAuth 2.0 provider API",
  // https://confluence.atlassian.com/display/BITBUCKETSERVER091/Bitbucket+OAuth+2.0+provider+API
  // (incoming application links; /rest/oauth2/latest/authorize and /token; authorization code with
  // PKCE). Always self-hosted, so auth_url is required. What a refresh does to the old refresh
  // token is not on the stored pages: undocumented. No validation by default: the cheap per-user
  // endpoint used before, GET /rest/api/latest/inbox/pull-requests/count, is marked "Forge and
  // OAuth2 apps cannot access this REST resource" in the REST reference
  // (https://developer.atlassian.com/server/bitbucket/rest/v1003/api-group-other-operations/), so
  // an OAuth2 token would fail it after every refresh, and no endpoint open to OAuth2 tokens was
  // confirmed in the stored pages; validate_url sets one.
  "bitbucket-server": {
    displayName: "Bitbucket Data Center",
    authorizePath: "/rest/oauth2/latest/authorize",
    apiBase: (base) => `${base}/rest/api/latest`,
    urls: (base) => ({
      authUrl: `${base}/rest/oauth2/latest/authorize`,
      tokenUrl: `${base}/rest/oauth2/latest/token`,
    }),
    host: (h) => escapeRegex(h),
    scopes: ["PUBLIC_REPOS", "REPO_READ", "REPO_WRITE"],
    extraTokenKeys: [],
    pkceMethods: ["S256"],
    deviceFlow: false,
    revocation: "none",
    tokenAuthMethod: "client_secret_post",
    quirks: "standard",
    rotation: "undocumented",

    reuse: "undocumented",
  },
  // Azure DevOps OAuth (legacy): https://learn.microsoft.com/en-us/azure/devops/integrate/get-started/authentication/azure-devops-oauth
  // (app.vssps.visualstudio.com, response_type=Assertion, client_assertion = client secret,
  // jwt-bearer grant). "Deprecated and scheduled for removal in 2026", no new registrations since
  // April 2025: use azure-devops-entra. Validation is Profiles - Get, whose scope vso.profile the
  // default therefore asks for next to vso.code_write. What a refresh does to the old refresh
  // token is not on the stored pages: undocumented.
  "azure-devops": {
    displayName: "Azure DevOps",
    cloudBase: "https://app.vssps.visualstudio.com",
    authorizePath: "/oauth2/authorize",
    apiBase: () => "https://dev.azure.com",
    urls: (base) => ({
      authUrl: `${base}/oauth2/authorize`,
      tokenUrl: `${base}/oauth2/token`,
      validateUrl: AZURE_DEVOPS_PROFILE,
    }),
    host: () => AZURE_DEVOPS_HOSTS,
    scopes: ["vso.code_write", "vso.profile"],
    extraTokenKeys: [],
    pkceMethods: ["none"],
    deviceFlow: false,
    revocation: "none",
    tokenAuthMethod: "client_secret_post",
    quirks: "azure-devops",
    rotation: "undocumented",

    reuse: "undocumented",
  },
  // Microsoft identity platform: https://learn.microsoft.com/en-us/entra/identity-platform/v2-oauth2-auth-code-flow
  // and .../v2-oauth2-device-code (v2.0 endpoints, PKCE S256); Azure DevOps with Entra:
  // https://learn.microsoft.com/en-us/azure/devops/integrate/get-started/authentication/entra-oauth
  // (resource 499b84ac-1321-427f-aa17-267ca6975798 and its .default scope, so the app
  // registration's Azure DevOps permissions apply: validation needs vso.profile among them).
  // Refresh tokens "replace themselves with a fresh token upon every use. The Microsoft identity
  // platform doesn't revoke old refresh tokens":
  // https://learn.microsoft.com/en-us/entra/identity-platform/refresh-tokens
  // No revocation endpoint. The tenant is the first path segment of auth_url (default
  // "organizations": Azure DevOps needs work or school accounts).
  "azure-devops-entra": {
    displayName: "Azure DevOps (Entra ID)",
    // Git over HTTPS with a Microsoft Entra token as "AUTHORIZATION: bearer …" (git -c http.extraheader):
    // https://learn.microsoft.com/en-us/azure/devops/integrate/get-started/authentication/service-principal-managed-identity
    // With Basic, the user name is not checked (any non-empty one), as for PATs.
    git: { username: "oauth2", bearer: true, source: "https://learn.microsoft.com/en-us/azure/devops/integrate/get-started/authentication/service-principal-managed-identity" },
    cloudBase: "https://login.microsoftonline.com/organizations",
    authorizePath: "/oauth2/v2.0/authorize",
    apiBase: () => "https://dev.azure.com",
    urls: (base) => ({
      authUrl: `${base}/oauth2/v2.0/authorize`,
      tokenUrl: `${base}/oauth2/v2.0/token`,
      deviceCodeUrl: `${base}/oauth2/v2.0/devicecode`,
      validateUrl: AZURE_DEVOPS_PROFILE,
    }),
    host: () => AZURE_DEVOPS_HOSTS,
    scopes: ["499b84ac-1321-427f-aa17-267ca6975798/.default", "offline_access"],
    extraTokenKeys: [],
    pkceMethods: ["S256"],
    deviceFlow: true,
    revocation: "none",
    tokenAuthMethod: "client_secret_post",
    quirks: "standard",
    rotation: "replaced_not_revoked",

    reuse: "accepted",
    scopeOnRefresh: true,
  },
  // Gitea: https://docs.gitea.com/development/oauth2-provider (/login/oauth/authorize and
  // /login/oauth/access_token, PKCE; a scope is required) and the API under /api/v1 (GET
  // /api/v1/user). No revocation or device endpoint. Whether a used refresh token stays valid is
  // an instance setting ([oauth2] INVALIDATE_REFRESH_TOKENS) that the stored pages do not describe:
  // undocumented. Self-hosted instances: the same paths under the instance URL.
  gitea: {
    displayName: "Gitea",
    cloudBase: "https://gitea.com",
    authorizePath: "/login/oauth/authorize",
    apiBase: (base) => `${base}/api/v1`,
    urls: (base, api) => ({
      authUrl: `${base}/login/oauth/authorize`,
      tokenUrl: `${base}/login/oauth/access_token`,
      validateUrl: `${api}/user`,
    }),
    host: (h) => escapeRegex(h),
    scopes: ["read:repository", "write:repository", "read:user"],
    extraTokenKeys: [],
    pkceMethods: ["S256"],
    deviceFlow: false,
    revocation: "none",
    tokenAuthMethod: "client_secret_post",
    quirks: "standard",
    rotation: "undocumented",

    reuse: "undocumented",
  },
  // JFrog Platform OAuth integrations as Coder's external-auth integration uses them (JFrog's own
  // pages were not among the stored copies): authorize at {host}/ui/authorization, token at
  // {host}/access/api/v1/integrations/{client_id}/token with the client secret as a bearer token,
  // GET /access/api/v1/system/ping to validate. Always self-hosted: auth_url is required.
  jfrog: {
    displayName: "JFrog",
    authorizePath: "/ui/authorization",
    apiBase: (base) => `${base}/access/api/v1`,
    urls: (base, api, clientId) => ({
      authUrl: `${base}/ui/authorization`,
      tokenUrl: `${base}/access/api/v1/integrations/${encodeURIComponent(clientId)}/token`,
      validateUrl: `${api}/system/ping`,
    }),
    host: (h) => escapeRegex(h),
    scopes: ["applied-permissions/user"],
    extraTokenKeys: [],
    pkceMethods: ["none"],
    deviceFlow: false,
    revocation: "none",
    tokenAuthMethod: "client_secret_post",
    quirks: "jfrog",
    rotation: "undocumented",

    reuse: "undocumented",
  },
  // Slack: https://docs.slack.dev/authentication/installing-with-oauth (oauth/v2/authorize,
  // comma-separated scopes, user scopes in `user_scope`, which auth_url_params can carry),
  // oauth.v2.access (HTTP Basic preferred), auth.test, auth.revoke; errors come as HTTP 200
  // {ok:false}. The user token of a v2 install sits in authed_user, hence the extra keys. Token
  // rotation: the used refresh token "is then revoked" (https://docs.slack.dev/authentication/using-token-rotation).
  // PKCE is generally available since 2026-03-30, but turning it on makes the app a public client,
  // one way, and every refresh token of a PKCE-enabled app expires after 30 days
  // (https://docs.slack.dev/changelog/2026/03/30/pkce): a link would die a month after it was made
  // unless the user re-links, so PKCE stays opt-in (pkce_methods: [S256]).
  slack: {
    displayName: "Slack",
    cloudBase: "https://slack.com",
    authorizePath: "/oauth/v2/authorize",
    apiBase: () => "https://slack.com/api",
    urls: (_base, api) => ({
      authUrl: "https://slack.com/oauth/v2/authorize",
      tokenUrl: "https://slack.com/api/oauth.v2.access",
      validateUrl: `${api}/auth.test`,
      revokeUrl: `${api}/auth.revoke`,
    }),
    scopes: [],
    extraTokenKeys: ["authed_user.id", "authed_user.access_token", "team.id"],
    pkceMethods: ["none"],
    deviceFlow: false,
    revocation: "slack",
    tokenAuthMethod: "client_secret_basic",
    quirks: "slack",
    rotation: "single_use",

    reuse: "undocumented",
    requiresScope: { orParam: "user_scope" },
  },
  // Generic RFC 6749: every URL explicit. RFC 6749 §2.3.1 makes HTTP Basic the method every
  // server must accept; RFC 9700 recommends PKCE S256. Rotation depends on the server
  // (undocumented); declare its reuse window with rotation_grace.
  oauth2: {
    displayName: "OAuth2",
    scopes: [],
    extraTokenKeys: [],
    pkceMethods: ["S256"],
    deviceFlow: true,
    revocation: "rfc7009",
    tokenAuthMethod: "client_secret_basic",
    quirks: "standard",
    rotation: "undocumented",

    reuse: "undocumented",
  },
  // OpenID Connect Discovery 1.0: endpoints from {issuer}/.well-known/openid-configuration,
  // fetched at startup (src/oauth/discovery.ts); userinfo validates tokens. OpenID Connect Core 1.0
  // §11 (https://openid.net/specs/openid-connect-core-1_0.html#OfflineAccess): "When offline access
  // is requested, a prompt parameter value of consent MUST be used unless other conditions ... are
  // in place", and a provider that sees offline_access without consent in prompt "MUST ignore the
  // offline_access request" (oidc-provider does), so no refresh token comes back: hence
  // prompt=consent whenever offline_access is asked for and auth_url_params sets no prompt.
  oidc: {
    displayName: "OpenID Connect",
    scopes: ["openid", "offline_access"],
    extraTokenKeys: [],
    pkceMethods: ["S256"],
    deviceFlow: true,
    revocation: "rfc7009",
    tokenAuthMethod: "client_secret_basic",
    quirks: "standard",
    rotation: "undocumented",

    reuse: "undocumented",
    discovery: true,
    consentForOfflineAccess: true,
  },
};
