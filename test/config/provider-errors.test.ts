import { describe, expect, it } from "vitest";
import { problems, provider, secretFile } from "./helpers.js";

const gh = (o: Record<string, unknown> = {}) => ({ id: "gh", type: "github", client_id: "cid", ...o });

describe("provider config errors name the path and the problem", () => {
  it.each([
    ["duplicate ids", [gh(), gh({ client_id: "other" })], /^providers\[1\]\.id: duplicate id "gh" \(also providers\[0\]\)$/],
    ["a bad regex", [gh({ regex: "(" })], /^providers\[0\]\.regex: not a valid regular expression/],
    ["device flow without a device-code URL (oauth2)", [{ id: "o", type: "oauth2", client_id: "c", token_url: "https://i.example/t", device_flow: true }], /^providers\[0\]\.device_flow: needs device_code_url$/],
    ["device flow on a type without a device endpoint", [{ id: "b", type: "bitbucket-cloud", client_id: "c", device_flow: true }], /^providers\[0\]\.device_flow: needs device_code_url \(type bitbucket-cloud has no device authorization endpoint\)$/],
    ["a missing client_id", [{ id: "gh", type: "github" }], /^providers\[0\]\.client_id: required$/],
    ["an empty client_id", [gh({ client_id: "" })], /^providers\[0\]\.client_id: must not be empty$/],
    ["an unreadable client_secret_file", [gh({ client_secret_file: "/nonexistent/dir/secret" })], /^providers\[0\]\.client_secret_file: cannot read \/nonexistent\/dir\/secret \(ENOENT\)$/],
    ["bitbucket-server without auth_url", [{ id: "bb", type: "bitbucket-server", client_id: "c" }], /^providers\[0\]\.auth_url: required for type bitbucket-server/],
    ["jfrog without auth_url", [{ id: "jf", type: "jfrog", client_id: "c" }], /^providers\[0\]\.auth_url: required for type jfrog/],
    ["oidc without issuer or token_url", [{ id: "o", type: "oidc", client_id: "c" }], /^providers\[0\]\.issuer: required for type oidc \(or set token_url and auth_url\)$/],
    ["oauth2 without token_url", [{ id: "o", type: "oauth2", client_id: "c" }], /^providers\[0\]\.token_url: required for type oauth2$/],
    ["issuer on a non-oidc type", [gh({ issuer: "https://idp.example" })], /^providers\[0\]\.issuer: only used by type oidc$/],
    ["pkce_methods mixing none", [gh({ pkce_methods: ["none", "S256"] })], /^providers\[0\]\.pkce_methods: "none" cannot be combined/],
    ["empty pkce_methods", [gh({ pkce_methods: [] })], /^providers\[0\]\.pkce_methods: must list at least one method/],
    ["an unknown pkce method", [gh({ pkce_methods: ["S512"] })], /^providers\[0\]\.pkce_methods\[0\]: /],
    ["auth_url_params overriding state", [gh({ auth_url_params: { audience: "x", state: "fixed" } })], /^providers\[0\]\.auth_url_params\.state: set by tokenbroker/],
    ["plain http off loopback", [{ id: "o", type: "oauth2", client_id: "c", token_url: "http://idp.example/token" }], /^providers\[0\]\.token_url: http is only allowed on loopback hosts; use https$/],
    ["a self-hosted auth_url over plain http", [{ id: "g", type: "gitlab", client_id: "c", auth_url: "http://git.corp.example/oauth/authorize" }], /^providers\[0\]\.auth_url: http is only allowed on loopback/],
    ["an unknown field", [gh({ client_secert: "typo" })], /^providers\[0\]: unknown field "client_secert"$/],
    ["rotation_grace not a duration", [gh({ rotation_grace: "soon" })], /^providers\[0\]\.rotation_grace: not a duration/],
    ["rotation_grace negative", [gh({ rotation_grace: "-5s" })], /^providers\[0\]\.rotation_grace: not a duration/],
    ["rotation_grace over an hour", [gh({ rotation_grace: "61m" })], /^providers\[0\]\.rotation_grace: must be at most 1h$/],
    ["default_token_lifetime not a duration", [gh({ default_token_lifetime: 3600 })], /^providers\[0\]\.default_token_lifetime: /],
    ["default_token_lifetime zero", [gh({ default_token_lifetime: "0s" })], /^providers\[0\]\.default_token_lifetime: must be at least 1s$/],
    ["default_token_lifetime over 10 years", [gh({ default_token_lifetime: "87601h" })], /^providers\[0\]\.default_token_lifetime: must be at most 10 years/],
  ])("%s", (_what, providers, expected) => {
    const found = problems(providers);
    expect(found.some((p) => expected.test(p)), found.join("\n")).toBe(true);
  });

  it("every problem is reported at once, each at its own path", () => {
    const found = problems([gh({ regex: "(" }), { id: "bb", type: "bitbucket-server", client_id: "c" }, gh({ pkce_methods: [] })]);
    expect(found.map((p) => p.split(":")[0])).toEqual(["providers[0].regex", "providers[1].auth_url", "providers[2].id", "providers[2].pkce_methods"]);
  });

  it("accepted: a secret file (trimmed), device flow where the type has it, loopback http, an audience param", () => {
    const secret = secretFile("gh.secret", "s3cret\n");
    const p = provider({ type: "github", client_secret: undefined, client_secret_file: secret, device_flow: true, token_url: "http://127.0.0.1:8080/token", auth_url_params: { audience: "https://api.example" } });
    expect(p).toMatchObject({ clientSecret: "s3cret", deviceFlow: true, tokenUrl: "http://127.0.0.1:8080/token", authUrlParams: { audience: "https://api.example" } });
    expect(provider({ type: "gitlab", device_flow: true }).deviceCodeUrl).toBe("https://gitlab.com/oauth/authorize_device");
    expect(provider({ type: "oidc", issuer: "https://idp.example", device_flow: true }).deviceFlow).toBe(true); // checked after discovery
  });
});
