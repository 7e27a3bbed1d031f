import { createHash } from "node:crypto";
import { describe, expect, it } from "vitest";
import { buildAuthorizeUrl, RESERVED_AUTHORIZE_PARAMS, type AuthorizeProvider } from "../../src/oauth/authorize.js";
import { OAuthError } from "../../src/oauth/oauth-error.js";
import { choosePkceMethod, createPkce, generateState } from "../../src/oauth/pkce.js";

const provider = (o: Partial<AuthorizeProvider> = {}): AuthorizeProvider => ({
  id: "p",
  authUrl: "https://idp.example/authorize",
  clientId: "client 1",
  authUrlParams: {},
  quirks: "standard",
  ...o,
});

describe("PKCE", () => {
  it("S256: a 43-character verifier and its base64url SHA-256 challenge (RFC 7636)", async () => {
    const pair = await createPkce(["S256"]);
    expect(pair).toBeDefined();
    expect(pair!.codeVerifier).toMatch(/^[A-Za-z0-9_-]{43}$/);
    expect(pair!.codeChallengeMethod).toBe("S256");
    expect(pair!.codeChallenge).toBe(createHash("sha256").update(pair!.codeVerifier).digest("base64url"));
  });

  it("verifiers are fresh every time", async () => {
    const a = await createPkce(["S256"]);
    const b = await createPkce(["S256"]);
    expect(a!.codeVerifier).not.toBe(b!.codeVerifier);
  });

  it("plain sends the verifier as the challenge", async () => {
    const pair = await createPkce(["plain"]);
    expect(pair).toMatchObject({ codeChallengeMethod: "plain", codeChallenge: pair!.codeVerifier });
  });

  it("none (or nothing) opts out; the first listed method wins", async () => {
    expect(await createPkce(["none"])).toBeUndefined();
    expect(await createPkce([])).toBeUndefined();
    expect(choosePkceMethod(["plain", "S256"])).toBe("plain");
    expect(choosePkceMethod(["S256", "plain"])).toBe("S256");
  });

  it("state values are random and URL-safe", () => {
    const s = generateState();
    expect(s).toMatch(/^[A-Za-z0-9_-]{40,}$/);
    expect(generateState()).not.toBe(s);
  });
});

describe("buildAuthorizeUrl", () => {
  it("carries response_type, client_id, redirect_uri, state, scope and the S256 challenge", async () => {
    const pkce = await createPkce(["S256"]);
    const url = new URL(
      buildAuthorizeUrl(provider(), {
        state: "st4te",
        redirectUri: "https://broker.example/oauth/p/callback",
        codeChallenge: pkce!.codeChallenge,
        codeChallengeMethod: pkce!.codeChallengeMethod,
        scopes: ["repo", "read:user"],
      }),
    );
    expect(url.origin + url.pathname).toBe("https://idp.example/authorize");
    expect(Object.fromEntries(url.searchParams)).toEqual({
      response_type: "code",
      client_id: "client 1",
      redirect_uri: "https://broker.example/oauth/p/callback",
      state: "st4te",
      scope: "repo read:user",
      code_challenge: pkce!.codeChallenge,
      code_challenge_method: "S256",
    });
    expect(url.searchParams.has("code_verifier")).toBe(false);
  });

  it("adds auth_url_params such as an Auth0 audience, and keeps the auth URL's own query", () => {
    const url = new URL(
      buildAuthorizeUrl(provider({ authUrl: "https://tenant.auth0.example/authorize?connection=github", authUrlParams: { audience: "https://api.example", prompt: "consent" } }), {
        state: "s",
        redirectUri: "https://b.example/cb",
        scopes: [],
      }),
    );
    expect(url.searchParams.get("audience")).toBe("https://api.example");
    expect(url.searchParams.get("prompt")).toBe("consent");
    expect(url.searchParams.get("connection")).toBe("github");
    expect(url.searchParams.has("scope")).toBe(false); // no scopes, no empty parameter
  });

  it("auth_url_params cannot replace the parameters the broker owns", () => {
    const hostile = Object.fromEntries([...RESERVED_AUTHORIZE_PARAMS].map((k) => [k, "evil"]));
    const url = new URL(buildAuthorizeUrl(provider({ authUrlParams: hostile }), { state: "mine", redirectUri: "https://b.example/cb", scopes: ["a"] }));
    expect(url.searchParams.get("state")).toBe("mine");
    expect(url.searchParams.get("redirect_uri")).toBe("https://b.example/cb");
    expect(url.searchParams.get("client_id")).toBe("client 1");
    expect(url.searchParams.get("response_type")).toBe("code");
    expect(url.searchParams.get("scope")).toBe("a");
    expect(url.searchParams.has("code_challenge")).toBe(false);
    expect(url.searchParams.has("code_challenge_method")).toBe(false);
  });

  it("without PKCE there is no challenge; half a pair is refused", () => {
    const url = new URL(buildAuthorizeUrl(provider(), { state: "s", redirectUri: "https://b.example/cb", scopes: [] }));
    expect(url.searchParams.has("code_challenge")).toBe(false);
    expect(() => buildAuthorizeUrl(provider(), { state: "s", redirectUri: "https://b.example/cb", scopes: [], codeChallenge: "x" })).toThrow(TypeError);
  });

  it("Slack joins scopes with commas; legacy Azure DevOps asks for an Assertion", () => {
    const slack = new URL(buildAuthorizeUrl(provider({ quirks: "slack" }), { state: "s", redirectUri: "https://b.example/cb", scopes: ["chat:write", "users:read"] }));
    expect(slack.searchParams.get("scope")).toBe("chat:write,users:read");
    const ado = new URL(buildAuthorizeUrl(provider({ quirks: "azure-devops" }), { state: "s", redirectUri: "https://b.example/cb", scopes: ["vso.code_write"] }));
    expect(ado.searchParams.get("response_type")).toBe("Assertion");
  });

  it("a provider without an authorization endpoint is a configuration error", () => {
    let err: unknown;
    try {
      buildAuthorizeUrl(provider({ authUrl: undefined }), { state: "s", redirectUri: "https://b.example/cb", scopes: [] });
    } catch (e) {
      err = e;
    }
    expect(err).toBeInstanceOf(OAuthError);
    expect((err as OAuthError).kind).toBe("client_credentials");
  });
});
