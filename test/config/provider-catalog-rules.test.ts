import { describe, expect, it } from "vitest";
import { MAX_ROTATION_GRACE_MS } from "../../src/config/catalog-defaults.js";
import { problems, provider } from "./helpers.js";

/**
 * How the loader applies the catalog beyond plain defaults: type aliases,
 * prompt=consent for OpenID Connect's offline_access, Slack's need for a
 * scope, a configured api_base_url moving the URLs under the API, and the
 * rotation grace window a provider's semantics allow.
 */

describe("type aliases", () => {
  it("bitbucket-data-center is bitbucket-server, bitbucket is bitbucket-cloud", () => {
    const auth_url = "https://bb.corp.example/rest/oauth2/latest/authorize";
    const { id: _a, ...dc } = provider({ type: "bitbucket-data-center", auth_url });
    const { id: _b, ...server } = provider({ type: "bitbucket-server", auth_url });
    expect(dc.type).toBe("bitbucket-server");
    expect({ ...dc, regex: dc.regex?.source }).toEqual({ ...server, regex: server.regex?.source });

    const { id: _c, ...alias } = provider({ type: "bitbucket" });
    const { id: _d, ...cloud } = provider({ type: "bitbucket-cloud" });
    expect(alias.type).toBe("bitbucket-cloud");
    expect({ ...alias, regex: alias.regex?.source }).toEqual({ ...cloud, regex: cloud.regex?.source });
  });

  it("errors name the field, and the type as the config wrote it", () => {
    expect(problems([{ id: "bb", type: "bitbucket-data-center", client_id: "c" }])).toEqual([
      "providers[0].auth_url: required for type bitbucket-data-center (self-hosted; the other URLs are derived from its host)",
    ]);
    const [unknown] = problems([{ id: "x", type: "bitbucket-datacenter", client_id: "c" }]);
    expect(unknown).toMatch(/^providers\[0\]\.type: must be one of github, .*, bitbucket-server, .*, oidc, bitbucket-data-center, bitbucket$/);
  });
});

describe("oidc: prompt=consent with offline_access (OpenID Connect Core §11)", () => {
  const oidc = (o: Record<string, unknown> = {}) => provider({ type: "oidc", issuer: "https://idp.example", ...o });

  it("added when the scopes ask for offline_access and no prompt is configured, next to other params", () => {
    expect(oidc().authUrlParams).toEqual({ prompt: "consent" });
    expect(oidc({ auth_url_params: { audience: "https://api.example" } }).authUrlParams).toEqual({ audience: "https://api.example", prompt: "consent" });
    expect(oidc({ scopes: ["openid", "profile", "offline_access"] }).authUrlParams).toEqual({ prompt: "consent" });
  });

  it("a configured prompt wins; no offline_access, no prompt", () => {
    expect(oidc({ auth_url_params: { prompt: "login consent" } }).authUrlParams).toEqual({ prompt: "login consent" });
    expect(oidc({ auth_url_params: { prompt: "login" } }).authUrlParams).toEqual({ prompt: "login" });
    expect(oidc({ scopes: ["openid"] }).authUrlParams).toEqual({});
  });

  it("only the oidc type: Entra's v2 endpoint issues refresh tokens for offline_access without it", () => {
    expect(provider({ type: "azure-devops-entra" }).authUrlParams).toEqual({});
    expect(provider({ type: "oauth2", token_url: "https://idp.example/token", scopes: ["offline_access"] }).authUrlParams).toEqual({});
  });
});

describe("slack needs a scope", () => {
  it("refused without one, in scope or in user_scope", () => {
    expect(problems([{ id: "s", type: "slack", client_id: "c" }])).toEqual([
      "providers[0].scopes: type slack needs at least one scope (or auth_url_params.user_scope); its authorize endpoint refuses a request for none",
    ]);
    expect(problems([{ id: "s", type: "slack", client_id: "c", scopes: [], auth_url_params: { user_scope: "" } }])).toHaveLength(1);
  });

  it("accepted with bot scopes or with user scopes only", () => {
    expect(provider({ type: "slack", scopes: ["chat:write"] }).scopes).toEqual(["chat:write"]);
    expect(provider({ type: "slack", auth_url_params: { user_scope: "search:read" } }).authUrlParams).toEqual({ user_scope: "search:read" });
  });
});

describe("api_base_url moves the URLs that live under the API", () => {
  it("github: validation and grant revocation follow it (how a GHE.com tenant is reached through a proxy or a test fake)", () => {
    const p = provider({ type: "github", client_id: "cid", auth_url: "https://octocorp.ghe.com/login/oauth/authorize", api_base_url: "http://127.0.0.1:9999/" });
    expect(p).toMatchObject({
      apiBaseUrl: "http://127.0.0.1:9999/",
      validateUrl: "http://127.0.0.1:9999/user",
      revokeUrl: "http://127.0.0.1:9999/applications/cid/grant",
      tokenUrl: "https://octocorp.ghe.com/login/oauth/access_token",
    });
  });

  it("gitlab, gitea, bitbucket, jfrog, slack: validation follows it; token and authorize endpoints do not", () => {
    const api = "https://proxy.example/api";
    expect(provider({ type: "gitlab", api_base_url: api })).toMatchObject({ validateUrl: `${api}/user`, revokeUrl: "https://gitlab.com/oauth/revoke", tokenUrl: "https://gitlab.com/oauth/token" });
    expect(provider({ type: "gitea", api_base_url: api }).validateUrl).toBe(`${api}/user`);
    expect(provider({ type: "bitbucket-cloud", api_base_url: api }).validateUrl).toBe(`${api}/user`);
    expect(provider({ type: "jfrog", auth_url: "https://acme.jfrog.io/ui/authorization", api_base_url: api }).validateUrl).toBe(`${api}/system/ping`);
    expect(provider({ type: "slack", scopes: ["chat:write"], api_base_url: api })).toMatchObject({ validateUrl: `${api}/auth.test`, revokeUrl: `${api}/auth.revoke`, tokenUrl: "https://slack.com/api/oauth.v2.access" });
  });

  it("Azure DevOps validates at the Profiles API whatever the API base", () => {
    expect(provider({ type: "azure-devops-entra", api_base_url: "https://proxy.example" }).validateUrl).toBe(
      "https://app.vssps.visualstudio.com/_apis/profile/profiles/me?api-version=7.1-preview.3",
    );
  });
});

describe("rotation grace from the catalog, rotation_grace overriding it", () => {
  it("single-use and undocumented rotation: no grace; Entra's old tokens stay valid: the longest window", () => {
    expect(provider({ type: "github" }).rotationGraceMs).toBe(0);
    expect(provider({ type: "oauth2", token_url: "https://idp.example/token" }).rotationGraceMs).toBe(0);
    expect(provider({ type: "azure-devops-entra" }).rotationGraceMs).toBe(MAX_ROTATION_GRACE_MS);
  });

  it("rotation_grace wins either way, and is still capped at an hour", () => {
    expect(provider({ type: "oidc", issuer: "https://idp.example", rotation_grace: "30s" }).rotationGraceMs).toBe(30_000);
    expect(provider({ type: "azure-devops-entra", rotation_grace: "0s" }).rotationGraceMs).toBe(0);
    expect(problems([{ id: "e", type: "azure-devops-entra", client_id: "c", rotation_grace: "2h" }])).toEqual(["providers[0].rotation_grace: must be at most 1h"]);
  });
});
