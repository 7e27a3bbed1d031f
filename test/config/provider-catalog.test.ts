import { describe, expect, it } from "vitest";
import { baseFromAuthUrl, hostRegex } from "../../src/config/provider-catalog.js";
import { provider } from "./helpers.js";

/** Sample URLs of each kind of forge, for "matches its own, not another's". */
const SAMPLES = {
  github: "https://github.com/coder/coder.git",
  gitlab: "https://gitlab.com/group/sub/project.git",
  bitbucket: "https://bitbucket.org/team/repo.git",
  azure: "https://dev.azure.com/org/project/_git/repo",
  gitea: "https://gitea.com/owner/repo.git",
};

function expectMatches(re: RegExp | undefined, yes: string[], no: string[]): void {
  expect(re).toBeDefined();
  for (const u of yes) expect(re!.test(u), `${re} should match ${u}`).toBe(true);
  for (const u of no) expect(re!.test(u), `${re} should not match ${u}`).toBe(false);
}

describe("catalog defaults, pinned per type", () => {
  it("github", () => {
    const p = provider({ type: "github", client_id: "Iv1.abc" });
    expect(p).toMatchObject({
      displayName: "GitHub",
      authUrl: "https://github.com/login/oauth/authorize",
      tokenUrl: "https://github.com/login/oauth/access_token",
      validateUrl: "https://api.github.com/user",
      deviceCodeUrl: "https://github.com/login/device/code",
      apiBaseUrl: "https://api.github.com",
      revokeUrl: "https://api.github.com/applications/Iv1.abc/grant",
      scopes: ["repo", "workflow"],
      pkceMethods: ["S256"],
      revocation: "github-grant",
      tokenAuthMethod: "client_secret_post",
      quirks: "github",
      deviceFlow: false,
    });
    expectMatches(
      p.regex,
      [SAMPLES.github, "git@github.com:org/repo.git", "github.com/org/repo", "https://www.github.com/o/r", "https://api.github.com/repos/o/r", "https://x-access-token@github.com/o/r", "ssh://git@github.com/o/r.git", "HTTPS://GitHub.com/o/r", "https://github.com"],
      [SAMPLES.gitlab, SAMPLES.bitbucket, "https://github.com.evil.example/o/r", "https://notgithub.com/o", "https://gist.github.com/x"],
    );
  });

  it("github: the default regex refuses host confusion (the token would go to the other host)", () => {
    const p = provider({ type: "github" });
    for (const u of ["https://github.com@evil.example/o/r", "https://github.com:443@evil.example/o/r", "https://evil.example\\@github.com/o/r", "github.com:x@evil.example/o", "https://evil.example/github.com/o"]) {
      expect(p.regex!.test(u), u).toBe(false);
      if (URL.canParse(u) && p.regex!.test(u)) expect(new URL(u).hostname).toBe("github.com");
    }
  });

  it("github with device_flow uses GitHub's device endpoint", () => {
    expect(provider({ type: "github", device_flow: true })).toMatchObject({ deviceFlow: true, deviceCodeUrl: "https://github.com/login/device/code" });
  });

  it("github Enterprise Server: URLs from auth_url's host, API under /api/v3", () => {
    const p = provider({ type: "github", client_id: "cid", auth_url: "https://ghe.corp.example/login/oauth/authorize" });
    expect(p).toMatchObject({
      tokenUrl: "https://ghe.corp.example/login/oauth/access_token",
      apiBaseUrl: "https://ghe.corp.example/api/v3",
      validateUrl: "https://ghe.corp.example/api/v3/user",
      revokeUrl: "https://ghe.corp.example/api/v3/applications/cid/grant",
      deviceCodeUrl: "https://ghe.corp.example/login/device/code",
    });
    expectMatches(p.regex, ["https://ghe.corp.example/o/r.git", "git@ghe.corp.example:o/r.git"], [SAMPLES.github]);
  });

  it("gitlab.com", () => {
    const p = provider({ type: "gitlab" });
    expect(p).toMatchObject({
      displayName: "GitLab",
      authUrl: "https://gitlab.com/oauth/authorize",
      tokenUrl: "https://gitlab.com/oauth/token",
      revokeUrl: "https://gitlab.com/oauth/revoke",
      deviceCodeUrl: "https://gitlab.com/oauth/authorize_device",
      apiBaseUrl: "https://gitlab.com/api/v4",
      validateUrl: "https://gitlab.com/api/v4/user",
      scopes: ["write_repository", "read_api"],
      pkceMethods: ["S256"],
      revocation: "rfc7009",
      quirks: "standard",
    });
    expectMatches(p.regex, [SAMPLES.gitlab, "git@gitlab.com:group/project.git"], [SAMPLES.github, "https://gitlab.corp.example/g/p"]);
  });

  it("gitlab self-managed: everything derived from auth_url, relative URL root kept", () => {
    const p = provider({ type: "gitlab", auth_url: "https://git.corp.example/gitlab/oauth/authorize" });
    expect(p).toMatchObject({
      authUrl: "https://git.corp.example/gitlab/oauth/authorize",
      tokenUrl: "https://git.corp.example/gitlab/oauth/token",
      revokeUrl: "https://git.corp.example/gitlab/oauth/revoke",
      deviceCodeUrl: "https://git.corp.example/gitlab/oauth/authorize_device",
      apiBaseUrl: "https://git.corp.example/gitlab/api/v4",
      validateUrl: "https://git.corp.example/gitlab/api/v4/user",
    });
    expectMatches(p.regex, ["https://git.corp.example/gitlab/g/p.git", "git@git.corp.example:g/p.git", "https://git.corp.example:8443/g/p"], [SAMPLES.gitlab, "https://git.corp.example.evil/g"]);
    // An auth_url at an unexpected path falls back to the origin.
    expect(provider({ type: "gitlab", auth_url: "https://gl.example/custom/login" }).tokenUrl).toBe("https://gl.example/oauth/token");
  });

  it("bitbucket-cloud", () => {
    const p = provider({ type: "bitbucket-cloud" });
    expect(p).toMatchObject({
      authUrl: "https://bitbucket.org/site/oauth2/authorize",
      tokenUrl: "https://bitbucket.org/site/oauth2/access_token",
      apiBaseUrl: "https://api.bitbucket.org/2.0",
      validateUrl: "https://api.bitbucket.org/2.0/user",
      scopes: ["account", "repository:write"],
      pkceMethods: ["none"],
      revocation: "none",
      tokenAuthMethod: "client_secret_basic",
    });
    expect(p.revokeUrl).toBeUndefined();
    expect(p.deviceCodeUrl).toBeUndefined();
    expectMatches(p.regex, [SAMPLES.bitbucket, "git@bitbucket.org:team/repo.git"], [SAMPLES.github, SAMPLES.gitlab]);
  });

  it("bitbucket-server: derived from auth_url (context path kept)", () => {
    const p = provider({ type: "bitbucket-server", auth_url: "https://bb.corp.example/bitbucket/rest/oauth2/latest/authorize" });
    expect(p).toMatchObject({
      displayName: "Bitbucket Server",
      tokenUrl: "https://bb.corp.example/bitbucket/rest/oauth2/latest/token",
      apiBaseUrl: "https://bb.corp.example/bitbucket/rest/api/latest",
      validateUrl: "https://bb.corp.example/bitbucket/rest/api/latest/inbox/pull-requests/count",
      scopes: ["PUBLIC_REPOS", "REPO_READ", "REPO_WRITE"],
      pkceMethods: ["S256"],
      revocation: "none",
    });
    expectMatches(p.regex, ["https://bb.corp.example/bitbucket/scm/prj/repo.git", "ssh://git@bb.corp.example:7999/prj/repo.git"], [SAMPLES.bitbucket]);
  });

  it("azure-devops (legacy OAuth)", () => {
    const p = provider({ type: "azure-devops" });
    expect(p).toMatchObject({
      authUrl: "https://app.vssps.visualstudio.com/oauth2/authorize",
      tokenUrl: "https://app.vssps.visualstudio.com/oauth2/token",
      apiBaseUrl: "https://dev.azure.com",
      scopes: ["vso.code_write"],
      pkceMethods: ["none"],
      revocation: "none",
      quirks: "azure-devops",
    });
    expectMatches(p.regex, [SAMPLES.azure, "git@ssh.dev.azure.com:v3/org/project/repo", "https://contoso.visualstudio.com/p/_git/r"], [SAMPLES.github, "https://dev.azure.com.evil.example/x"]);
  });

  it("azure-devops-entra: v2 endpoints, the Azure DevOps .default scope plus offline_access, tenant from auth_url", () => {
    const p = provider({ type: "azure-devops-entra" });
    expect(p).toMatchObject({
      authUrl: "https://login.microsoftonline.com/organizations/oauth2/v2.0/authorize",
      tokenUrl: "https://login.microsoftonline.com/organizations/oauth2/v2.0/token",
      deviceCodeUrl: "https://login.microsoftonline.com/organizations/oauth2/v2.0/devicecode",
      scopes: ["499b84ac-1321-427f-aa17-267ca6975798/.default", "offline_access"],
      pkceMethods: ["S256"],
      revocation: "none",
      scopeOnRefresh: true,
      tokenAuthMethod: "client_secret_post",
    });
    expectMatches(p.regex, [SAMPLES.azure], [SAMPLES.github]);
    const tenant = provider({ type: "azure-devops-entra", auth_url: "https://login.microsoftonline.com/contoso.onmicrosoft.com/oauth2/v2.0/authorize" });
    expect(tenant.tokenUrl).toBe("https://login.microsoftonline.com/contoso.onmicrosoft.com/oauth2/v2.0/token");
    expect(tenant.deviceCodeUrl).toBe("https://login.microsoftonline.com/contoso.onmicrosoft.com/oauth2/v2.0/devicecode");
  });

  it("gitea: gitea.com by default, self-hosted from auth_url", () => {
    const p = provider({ type: "gitea" });
    expect(p).toMatchObject({
      authUrl: "https://gitea.com/login/oauth/authorize",
      tokenUrl: "https://gitea.com/login/oauth/access_token",
      apiBaseUrl: "https://gitea.com/api/v1",
      validateUrl: "https://gitea.com/api/v1/user",
      scopes: ["read:repository", "write:repository", "read:user"],
      pkceMethods: ["S256"],
      revocation: "none",
    });
    expectMatches(p.regex, [SAMPLES.gitea], [SAMPLES.github]);
    const self = provider({ type: "gitea", auth_url: "https://code.corp.example/login/oauth/authorize" });
    expect(self).toMatchObject({ tokenUrl: "https://code.corp.example/login/oauth/access_token", apiBaseUrl: "https://code.corp.example/api/v1", validateUrl: "https://code.corp.example/api/v1/user" });
    expectMatches(self.regex, ["https://code.corp.example/o/r.git"], [SAMPLES.gitea]);
  });

  it("jfrog: from auth_url, token path per client id, the secret as bearer", () => {
    const p = provider({ type: "jfrog", client_id: "int-1", auth_url: "https://acme.jfrog.io/ui/authorization" });
    expect(p).toMatchObject({
      tokenUrl: "https://acme.jfrog.io/access/api/v1/integrations/int-1/token",
      validateUrl: "https://acme.jfrog.io/access/api/v1/system/ping",
      scopes: ["applied-permissions/user"],
      pkceMethods: ["none"],
      revocation: "none",
      quirks: "jfrog",
    });
    expectMatches(p.regex, ["https://acme.jfrog.io/artifactory/api/npm/npm/"], [SAMPLES.github]);
  });

  it("slack", () => {
    const p = provider({ type: "slack" });
    expect(p).toMatchObject({
      authUrl: "https://slack.com/oauth/v2/authorize",
      tokenUrl: "https://slack.com/api/oauth.v2.access",
      validateUrl: "https://slack.com/api/auth.test",
      revokeUrl: "https://slack.com/api/auth.revoke",
      extraTokenKeys: ["authed_user.id", "authed_user.access_token", "team.id"],
      pkceMethods: ["none"],
      revocation: "slack",
      tokenAuthMethod: "client_secret_basic",
      quirks: "slack",
    });
    expect(p.regex).toBeUndefined();
  });

  it("oauth2: all explicit; RFC 7009 only with a revoke_url; S256 and Basic by default", () => {
    const p = provider({ type: "oauth2", auth_url: "https://idp.example/authorize", token_url: "https://idp.example/token" });
    expect(p).toMatchObject({ pkceMethods: ["S256"], revocation: "none", tokenAuthMethod: "client_secret_basic", scopes: [], quirks: "standard" });
    expect(p.regex).toBeUndefined();
    expect(provider({ type: "oauth2", token_url: "https://idp.example/token", revoke_url: "https://idp.example/revoke" }).revocation).toBe("rfc7009");
  });

  it("oidc: pending discovery from the issuer; explicit settings recorded", () => {
    const p = provider({ type: "oidc", issuer: "https://idp.example", pkce_methods: ["plain"], validate_url: "https://api.example/me" });
    expect(p).toMatchObject({ tokenUrl: "", issuer: "https://idp.example", scopes: ["openid", "offline_access"], revocation: "rfc7009" });
    expect(p.pendingDiscovery).toEqual({ issuer: "https://idp.example", explicit: ["validateUrl", "pkceMethods"] });
  });

  it("explicit settings beat every default", () => {
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
    });
    expect(p).toMatchObject({ tokenUrl: "http://127.0.0.1:9/token", scopes: ["read:user"], pkceMethods: ["none"], tokenAuthMethod: "client_secret_basic", extraTokenKeys: ["scope"], displayName: "Corp GitHub", revokeUrl: "https://api.github.com/applications/other/grant" });
    expect(p.regex!.source).toBe("^https:\\/\\/git\\.example\\/");
  });
});

describe("helpers", () => {
  it("baseFromAuthUrl strips the authorize path, else keeps the origin", () => {
    expect(baseFromAuthUrl("https://h.example/gl/oauth/authorize", "/oauth/authorize")).toBe("https://h.example/gl");
    expect(baseFromAuthUrl("https://h.example:8443/oauth/authorize/", "/oauth/authorize")).toBe("https://h.example:8443");
    expect(baseFromAuthUrl("https://h.example/elsewhere", "/oauth/authorize")).toBe("https://h.example");
  });

  it("hostRegex accepts the URL shapes git uses", () => {
    const re = new RegExp(hostRegex("git\\.example"), "i");
    for (const u of ["https://git.example/o/r", "http://git.example:3000/o/r", "git://git.example/o/r", "ssh://git@git.example:22/o/r", "git@git.example:o/r.git", "git.example/o/r", "https://git.example?x=1"]) {
      expect(re.test(u), u).toBe(true);
    }
    for (const u of ["https://git.example.evil/o", "https://xgit.example/o", "ftp://git.example/o", "https://git.example@evil.example/"]) {
      expect(re.test(u), u).toBe(false);
    }
  });
});
