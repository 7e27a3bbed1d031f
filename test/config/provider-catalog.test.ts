import { describe, expect, it } from "vitest";
import type { ProviderConfig } from "../../src/config/config.js";
import { MAX_ROTATION_GRACE_MS, baseFromAuthUrl, catalogDefaults } from "../../src/config/catalog-defaults.js";
import { CATALOG, githubApiBase } from "../../src/config/provider-catalog.js";
import { PROVIDER_TYPES, canonicalType } from "../../src/config/schema.js";
import { provider } from "./helpers.js";

/**
 * Every default of every provider type, pinned as the loader resolves it
 * (plus what only the catalog knows: whether the provider has a device
 * endpoint, and its refresh-token rotation semantics). Each value comes from
 * the documentation page cited next to it in src/config/provider-catalog.ts.
 * The MatchProvider regexes are pinned in match-provider-regex.test.ts.
 */

type Pinned = ReturnType<typeof pin>;

function pin(input: Record<string, unknown>) {
  const p: ProviderConfig = provider(input);
  const d = catalogDefaults(canonicalType(String(input.type)), {
    authUrl: input.auth_url as string | undefined,
    apiBaseUrl: input.api_base_url as string | undefined,
    clientId: p.clientId,
  })!;
  return {
    type: p.type,
    displayName: p.displayName,
    authUrl: p.authUrl,
    tokenUrl: p.tokenUrl,
    deviceCodeUrl: p.deviceCodeUrl,
    validateUrl: p.validateUrl,
    revokeUrl: p.revokeUrl,
    apiBaseUrl: p.apiBaseUrl,
    scopes: p.scopes,
    extraTokenKeys: p.extraTokenKeys,
    authUrlParams: p.authUrlParams,
    tokenAuthMethod: p.tokenAuthMethod,
    pkceMethods: p.pkceMethods,
    deviceEndpoint: d.deviceFlowSupported,
    revocation: p.revocation,
    quirks: p.quirks,
    scopeOnRefresh: p.scopeOnRefresh ?? false,
    rotation: d.rotation,
    rotationGraceMs: p.rotationGraceMs,
  };
}

const GITHUB_COMMON = {
  type: "github",
  displayName: "GitHub",
  scopes: ["repo", "workflow"],
  extraTokenKeys: [],
  authUrlParams: {},
  tokenAuthMethod: "client_secret_post",
  pkceMethods: ["S256"],
  deviceEndpoint: true,
  revocation: "github-grant",
  quirks: "github",
  scopeOnRefresh: false,
  rotation: "single_use",
  rotationGraceMs: 0,
} as const;

const CASES: Array<[string, Record<string, unknown>, Pinned]> = [
  [
    "github.com",
    { type: "github", client_id: "Iv1.abc" },
    {
      ...GITHUB_COMMON,
      authUrl: "https://github.com/login/oauth/authorize",
      tokenUrl: "https://github.com/login/oauth/access_token",
      deviceCodeUrl: "https://github.com/login/device/code",
      validateUrl: "https://api.github.com/user",
      revokeUrl: "https://api.github.com/applications/Iv1.abc/grant",
      apiBaseUrl: "https://api.github.com",
      scopes: [...GITHUB_COMMON.scopes],
      extraTokenKeys: [],
      pkceMethods: ["S256"],
    },
  ],
  [
    "GitHub Enterprise Server: URLs from auth_url's host, API under /api/v3",
    { type: "github", client_id: "cid", auth_url: "https://ghe.corp.example/login/oauth/authorize" },
    {
      ...GITHUB_COMMON,
      authUrl: "https://ghe.corp.example/login/oauth/authorize",
      tokenUrl: "https://ghe.corp.example/login/oauth/access_token",
      deviceCodeUrl: "https://ghe.corp.example/login/device/code",
      validateUrl: "https://ghe.corp.example/api/v3/user",
      revokeUrl: "https://ghe.corp.example/api/v3/applications/cid/grant",
      apiBaseUrl: "https://ghe.corp.example/api/v3",
      scopes: [...GITHUB_COMMON.scopes],
      extraTokenKeys: [],
      pkceMethods: ["S256"],
    },
  ],
  [
    "GitHub Enterprise Cloud with data residency: the API (validation, revocation) at api.SUBDOMAIN.ghe.com",
    { type: "github", client_id: "Iv23.x", auth_url: "https://octocorp.ghe.com/login/oauth/authorize" },
    {
      ...GITHUB_COMMON,
      authUrl: "https://octocorp.ghe.com/login/oauth/authorize",
      tokenUrl: "https://octocorp.ghe.com/login/oauth/access_token",
      deviceCodeUrl: "https://octocorp.ghe.com/login/device/code",
      validateUrl: "https://api.octocorp.ghe.com/user",
      revokeUrl: "https://api.octocorp.ghe.com/applications/Iv23.x/grant",
      apiBaseUrl: "https://api.octocorp.ghe.com",
      scopes: [...GITHUB_COMMON.scopes],
      extraTokenKeys: [],
      pkceMethods: ["S256"],
    },
  ],
  [
    "gitlab.com",
    { type: "gitlab" },
    {
      type: "gitlab",
      displayName: "GitLab",
      authUrl: "https://gitlab.com/oauth/authorize",
      tokenUrl: "https://gitlab.com/oauth/token",
      deviceCodeUrl: "https://gitlab.com/oauth/authorize_device",
      validateUrl: "https://gitlab.com/api/v4/user",
      revokeUrl: "https://gitlab.com/oauth/revoke",
      apiBaseUrl: "https://gitlab.com/api/v4",
      scopes: ["write_repository", "read_api"],
      extraTokenKeys: [],
      authUrlParams: {},
      tokenAuthMethod: "client_secret_post",
      pkceMethods: ["S256"],
      deviceEndpoint: true,
      revocation: "rfc7009",
      quirks: "standard",
      scopeOnRefresh: false,
      rotation: "single_use",
      rotationGraceMs: 0,
    },
  ],
  [
    "GitLab self-managed under a relative URL root",
    { type: "gitlab", auth_url: "https://git.corp.example/gitlab/oauth/authorize" },
    {
      type: "gitlab",
      displayName: "GitLab",
      authUrl: "https://git.corp.example/gitlab/oauth/authorize",
      tokenUrl: "https://git.corp.example/gitlab/oauth/token",
      deviceCodeUrl: "https://git.corp.example/gitlab/oauth/authorize_device",
      validateUrl: "https://git.corp.example/gitlab/api/v4/user",
      revokeUrl: "https://git.corp.example/gitlab/oauth/revoke",
      apiBaseUrl: "https://git.corp.example/gitlab/api/v4",
      scopes: ["write_repository", "read_api"],
      extraTokenKeys: [],
      authUrlParams: {},
      tokenAuthMethod: "client_secret_post",
      pkceMethods: ["S256"],
      deviceEndpoint: true,
      revocation: "rfc7009",
      quirks: "standard",
      scopeOnRefresh: false,
      rotation: "single_use",
      rotationGraceMs: 0,
    },
  ],
  [
    "bitbucket-cloud",
    { type: "bitbucket-cloud" },
    {
      type: "bitbucket-cloud",
      displayName: "Bitbucket Cloud",
      authUrl: "https://bitbucket.org/site/oauth2/authorize",
      tokenUrl: "https://bitbucket.org/site/oauth2/access_token",
      deviceCodeUrl: undefined,
      validateUrl: "https://api.bitbucket.org/2.0/user",
      revokeUrl: undefined,
      apiBaseUrl: "https://api.bitbucket.org/2.0",
      scopes: ["account", "repository:write"],
      extraTokenKeys: [],
      authUrlParams: {},
      tokenAuthMethod: "client_secret_basic",
      pkceMethods: ["none"],
      deviceEndpoint: false,
      revocation: "none",
      quirks: "standard",
      scopeOnRefresh: false,
      rotation: "single_use",
      rotationGraceMs: 0,
    },
  ],
  [
    "bitbucket-server (Bitbucket Data Center), context path kept",
    { type: "bitbucket-server", auth_url: "https://bb.corp.example/bitbucket/rest/oauth2/latest/authorize" },
    {
      type: "bitbucket-server",
      displayName: "Bitbucket Data Center",
      authUrl: "https://bb.corp.example/bitbucket/rest/oauth2/latest/authorize",
      tokenUrl: "https://bb.corp.example/bitbucket/rest/oauth2/latest/token",
      deviceCodeUrl: undefined,
      // Atlassian's REST reference closes the former default (inbox/pull-requests/count) to OAuth2 tokens.
      validateUrl: undefined,
      revokeUrl: undefined,
      apiBaseUrl: "https://bb.corp.example/bitbucket/rest/api/latest",
      scopes: ["PUBLIC_REPOS", "REPO_READ", "REPO_WRITE"],
      extraTokenKeys: [],
      authUrlParams: {},
      tokenAuthMethod: "client_secret_post",
      pkceMethods: ["S256"],
      deviceEndpoint: false,
      revocation: "none",
      quirks: "standard",
      scopeOnRefresh: false,
      rotation: "undocumented",
      rotationGraceMs: 0,
    },
  ],
  [
    "azure-devops (legacy OAuth): Profiles - Get at 7.1-preview.3, and its scope vso.profile",
    { type: "azure-devops" },
    {
      type: "azure-devops",
      displayName: "Azure DevOps",
      authUrl: "https://app.vssps.visualstudio.com/oauth2/authorize",
      tokenUrl: "https://app.vssps.visualstudio.com/oauth2/token",
      deviceCodeUrl: undefined,
      validateUrl: "https://app.vssps.visualstudio.com/_apis/profile/profiles/me?api-version=7.1-preview.3",
      revokeUrl: undefined,
      apiBaseUrl: "https://dev.azure.com",
      scopes: ["vso.code_write", "vso.profile"],
      extraTokenKeys: [],
      authUrlParams: {},
      tokenAuthMethod: "client_secret_post",
      pkceMethods: ["none"],
      deviceEndpoint: false,
      revocation: "none",
      quirks: "azure-devops",
      scopeOnRefresh: false,
      rotation: "undocumented",
      rotationGraceMs: 0,
    },
  ],
  [
    "azure-devops-entra: v2 endpoints, .default plus offline_access, old refresh tokens not revoked",
    { type: "azure-devops-entra" },
    {
      type: "azure-devops-entra",
      displayName: "Azure DevOps (Entra ID)",
      authUrl: "https://login.microsoftonline.com/organizations/oauth2/v2.0/authorize",
      tokenUrl: "https://login.microsoftonline.com/organizations/oauth2/v2.0/token",
      deviceCodeUrl: "https://login.microsoftonline.com/organizations/oauth2/v2.0/devicecode",
      validateUrl: "https://app.vssps.visualstudio.com/_apis/profile/profiles/me?api-version=7.1-preview.3",
      revokeUrl: undefined,
      apiBaseUrl: "https://dev.azure.com",
      scopes: ["499b84ac-1321-427f-aa17-267ca6975798/.default", "offline_access"],
      extraTokenKeys: [],
      authUrlParams: {},
      tokenAuthMethod: "client_secret_post",
      pkceMethods: ["S256"],
      deviceEndpoint: true,
      revocation: "none",
      quirks: "standard",
      scopeOnRefresh: true,
      rotation: "replaced_not_revoked",
      rotationGraceMs: MAX_ROTATION_GRACE_MS,
    },
  ],
  [
    "gitea.com",
    { type: "gitea" },
    {
      type: "gitea",
      displayName: "Gitea",
      authUrl: "https://gitea.com/login/oauth/authorize",
      tokenUrl: "https://gitea.com/login/oauth/access_token",
      deviceCodeUrl: undefined,
      validateUrl: "https://gitea.com/api/v1/user",
      revokeUrl: undefined,
      apiBaseUrl: "https://gitea.com/api/v1",
      scopes: ["read:repository", "write:repository", "read:user"],
      extraTokenKeys: [],
      authUrlParams: {},
      tokenAuthMethod: "client_secret_post",
      pkceMethods: ["S256"],
      deviceEndpoint: false,
      revocation: "none",
      quirks: "standard",
      scopeOnRefresh: false,
      rotation: "undocumented",
      rotationGraceMs: 0,
    },
  ],
  [
    "jfrog: from auth_url, token path per client id",
    { type: "jfrog", client_id: "int-1", auth_url: "https://acme.jfrog.io/ui/authorization" },
    {
      type: "jfrog",
      displayName: "JFrog",
      authUrl: "https://acme.jfrog.io/ui/authorization",
      tokenUrl: "https://acme.jfrog.io/access/api/v1/integrations/int-1/token",
      deviceCodeUrl: undefined,
      validateUrl: "https://acme.jfrog.io/access/api/v1/system/ping",
      revokeUrl: undefined,
      apiBaseUrl: "https://acme.jfrog.io/access/api/v1",
      scopes: ["applied-permissions/user"],
      extraTokenKeys: [],
      authUrlParams: {},
      tokenAuthMethod: "client_secret_post",
      pkceMethods: ["none"],
      deviceEndpoint: false,
      revocation: "none",
      quirks: "jfrog",
      scopeOnRefresh: false,
      rotation: "undocumented",
      rotationGraceMs: 0,
    },
  ],
  [
    "slack: PKCE off (it would make the app a public client, refresh tokens dead after 30 days)",
    { type: "slack", scopes: ["chat:write"] },
    {
      type: "slack",
      displayName: "Slack",
      authUrl: "https://slack.com/oauth/v2/authorize",
      tokenUrl: "https://slack.com/api/oauth.v2.access",
      deviceCodeUrl: undefined,
      validateUrl: "https://slack.com/api/auth.test",
      revokeUrl: "https://slack.com/api/auth.revoke",
      apiBaseUrl: "https://slack.com/api",
      scopes: ["chat:write"],
      extraTokenKeys: ["authed_user.id", "authed_user.access_token", "team.id"],
      authUrlParams: {},
      tokenAuthMethod: "client_secret_basic",
      pkceMethods: ["none"],
      deviceEndpoint: false,
      revocation: "slack",
      quirks: "slack",
      scopeOnRefresh: false,
      rotation: "single_use",
      rotationGraceMs: 0,
    },
  ],
  [
    "oauth2: every URL explicit; RFC 7009 only with a revoke_url",
    { type: "oauth2", auth_url: "https://idp.example/authorize", token_url: "https://idp.example/token" },
    {
      type: "oauth2",
      displayName: "OAuth2",
      authUrl: "https://idp.example/authorize",
      tokenUrl: "https://idp.example/token",
      deviceCodeUrl: undefined,
      validateUrl: undefined,
      revokeUrl: undefined,
      apiBaseUrl: undefined,
      scopes: [],
      extraTokenKeys: [],
      authUrlParams: {},
      tokenAuthMethod: "client_secret_basic",
      pkceMethods: ["S256"],
      deviceEndpoint: true,
      revocation: "none",
      quirks: "standard",
      scopeOnRefresh: false,
      rotation: "undocumented",
      rotationGraceMs: 0,
    },
  ],
  [
    "oidc: endpoints pending discovery; prompt=consent with offline_access (OpenID Connect Core §11)",
    { type: "oidc", issuer: "https://idp.example" },
    {
      type: "oidc",
      displayName: "OpenID Connect",
      authUrl: undefined,
      tokenUrl: "",
      deviceCodeUrl: undefined,
      validateUrl: undefined,
      revokeUrl: undefined,
      apiBaseUrl: undefined,
      scopes: ["openid", "offline_access"],
      extraTokenKeys: [],
      authUrlParams: { prompt: "consent" },
      tokenAuthMethod: "client_secret_basic",
      pkceMethods: ["S256"],
      deviceEndpoint: true,
      revocation: "rfc7009",
      quirks: "standard",
      scopeOnRefresh: false,
      rotation: "undocumented",
      rotationGraceMs: 0,
    },
  ],
];

describe("catalog defaults, pinned per type", () => {
  it("covers every provider type", () => {
    expect(Object.keys(CATALOG).sort()).toEqual([...PROVIDER_TYPES].sort());
    const pinned = new Set(CASES.map(([, input]) => input.type));
    expect([...pinned].sort()).toEqual([...PROVIDER_TYPES].sort());
  });

  it.each(CASES)("%s", (_name, input, expected) => {
    expect(pin(input)).toEqual(expected);
  });

  it("oidc records what the operator set, so discovery does not replace it", () => {
    const p = provider({ type: "oidc", issuer: "https://idp.example", pkce_methods: ["plain"], validate_url: "https://api.example/me" });
    expect(p.pendingDiscovery).toEqual({ issuer: "https://idp.example", explicit: ["validateUrl", "pkceMethods"] });
  });

  it("an explicit setting beats every default", () => {
    const p = provider({
      type: "github",
      token_url: "http://127.0.0.1:9/token",
      scopes: ["read:user"],
      regex: "^https://git\\.example/",
      pkce_methods: ["none"],
      token_auth_method: "client_secret_basic",
      extra_token_keys: ["scope"],
      display_name: "Corp GitHub",
      revoke_url: "https://api.github.com/applications/other/grant",
      validate_url: "https://api.github.com/octocat",
      rotation_grace: "2s",
    });
    expect(p).toMatchObject({
      tokenUrl: "http://127.0.0.1:9/token",
      scopes: ["read:user"],
      pkceMethods: ["none"],
      tokenAuthMethod: "client_secret_basic",
      extraTokenKeys: ["scope"],
      displayName: "Corp GitHub",
      revokeUrl: "https://api.github.com/applications/other/grant",
      validateUrl: "https://api.github.com/octocat",
      rotationGraceMs: 2000,
    });
    expect(p.regex!.source).toBe("^https:\\/\\/git\\.example\\/");
  });
});

describe("the pure rules behind the defaults", () => {
  it("githubApiBase: api.github.com, api.SUBDOMAIN.ghe.com, else {base}/api/v3", () => {
    expect(githubApiBase("https://github.com")).toBe("https://api.github.com");
    expect(githubApiBase("https://octocorp.ghe.com")).toBe("https://api.octocorp.ghe.com");
    expect(githubApiBase("https://eu-1.ghe.com")).toBe("https://api.eu-1.ghe.com");
    // Only a tenant directly under ghe.com is GHE.com; anything else is an Enterprise Server.
    expect(githubApiBase("https://ghe.com")).toBe("https://ghe.com/api/v3");
    expect(githubApiBase("https://a.b.ghe.com")).toBe("https://a.b.ghe.com/api/v3");
    expect(githubApiBase("https://octocorp.ghe.com.evil.example")).toBe("https://octocorp.ghe.com.evil.example/api/v3");
    expect(githubApiBase("https://ghe.corp.example:8443")).toBe("https://ghe.corp.example:8443/api/v3");
  });

  it("baseFromAuthUrl strips the authorize path, else keeps the origin", () => {
    expect(baseFromAuthUrl("https://h.example/gl/oauth/authorize", "/oauth/authorize")).toBe("https://h.example/gl");
    expect(baseFromAuthUrl("https://h.example:8443/oauth/authorize/", "/oauth/authorize")).toBe("https://h.example:8443");
    expect(baseFromAuthUrl("https://h.example/elsewhere", "/oauth/authorize")).toBe("https://h.example");
    expect(provider({ type: "gitlab", auth_url: "https://gl.example/custom/login" }).tokenUrl).toBe("https://gl.example/oauth/token");
  });

  it("catalogDefaults: undefined for a self-hosted-only type without auth_url", () => {
    expect(catalogDefaults("bitbucket-server")).toBeUndefined();
    expect(catalogDefaults("jfrog")).toBeUndefined();
    expect(catalogDefaults("oauth2")).toBeDefined();
  });
});
