import { afterAll, beforeAll, describe, expect, it } from "vitest";
import { buildAuthorizeUrl } from "../../src/oauth/authorize.js";
import { exchangeCode } from "../../src/oauth/code-exchange.js";
import { applyDiscovery, discoverOidc, endpointsFromMetadata, type DiscoveryTarget, type OidcEndpoints } from "../../src/oauth/discovery.js";
import { OAuthError } from "../../src/oauth/oauth-error.js";
import { createPkce, generateState } from "../../src/oauth/pkce.js";
import type { OAuthProvider } from "../../src/oauth/provider.js";
import { refreshGrant } from "../../src/oauth/refresh.js";
import { revokeTokens } from "../../src/oauth/revoke.js";
import { validateToken } from "../../src/oauth/validate.js";
import { startCaptureServer } from "../support/fake-capture.js";
import { followToCallback, startOidcLoginServer, type OidcLoginServer } from "../support/fake-oidc-login.js";

const timeoutMs = 5000;
let idp: OidcLoginServer;
beforeAll(async () => {
  idp = await startOidcLoginServer();
});
afterAll(async () => {
  await idp.close();
});

/** What the config loader makes of `type: oidc, issuer: ...` before discovery. */
function pendingOidc(): OAuthProvider & DiscoveryTarget {
  return {
    id: "oidc",
    clientId: idp.clientId,
    clientSecret: idp.clientSecret,
    tokenUrl: "",
    scopes: ["openid", "offline_access"],
    extraTokenKeys: [],
    pkceMethods: ["S256"],
    tokenAuthMethod: "client_secret_basic",
    // oidc-provider only issues refresh tokens for offline_access after an explicit consent prompt.
    authUrlParams: { prompt: "consent" },
    revocation: "rfc7009",
    quirks: "standard",
    pendingDiscovery: { issuer: idp.issuer, explicit: [] },
  };
}

describe("OIDC discovery against oidc-provider", () => {
  it("finds the authorization, token, revocation and userinfo endpoints", async () => {
    const m = await discoverOidc(idp.issuer, { timeoutMs });
    expect(m).toMatchObject({
      issuer: idp.issuer,
      authorizationEndpoint: `${idp.issuer}/auth`,
      tokenEndpoint: `${idp.issuer}/token`,
      revocationEndpoint: `${idp.issuer}/token/revocation`,
      userinfoEndpoint: `${idp.issuer}/me`,
    });
    expect(m.codeChallengeMethodsSupported).toContain("S256");
  });

  it("a wrong issuer, a 404 and an unreachable server are OAuthErrors of the right kind", async () => {
    const other = await startCaptureServer({ status: 200, body: { issuer: "https://someone-else.example", token_endpoint: "https://someone-else.example/token" } });
    try {
      const kindOf = async (issuer: string): Promise<string> =>
        discoverOidc(issuer, { timeoutMs }).then(
          () => "resolved",
          (e: unknown) => (e instanceof OAuthError ? e.kind : "other"),
        );
      expect(await kindOf(other.url)).toBe("client_credentials"); // issuer mismatch
      other.fallback = { status: 404, body: {} };
      expect(await kindOf(other.url)).toBe("client_credentials");
      other.fallback = { status: 503, body: {} };
      expect(await kindOf(other.url)).toBe("transient");
      expect(await kindOf("http://127.0.0.1:1")).toBe("transient");
      expect(await kindOf("http://idp.example")).toBe("client_credentials"); // plain http off loopback
    } finally {
      await other.close();
    }
  });
});

describe("applyDiscovery (pure)", () => {
  const metadata: OidcEndpoints = {
    issuer: "https://idp.example",
    authorizationEndpoint: "https://idp.example/authorize",
    tokenEndpoint: "https://idp.example/token",
    revocationEndpoint: "https://idp.example/revoke",
    deviceAuthorizationEndpoint: "https://idp.example/device",
    userinfoEndpoint: "https://idp.example/userinfo",
  };
  const target = (o: Partial<DiscoveryTarget> = {}): DiscoveryTarget => ({
    tokenUrl: "",
    pkceMethods: ["S256"],
    tokenAuthMethod: "client_secret_basic",
    revocation: "rfc7009",
    pendingDiscovery: { issuer: "https://idp.example", explicit: [] },
    ...o,
  });

  it("fills every endpoint, userinfo as the validate URL, and clears the pending marker", () => {
    expect(applyDiscovery(target(), metadata)).toEqual({
      tokenUrl: "https://idp.example/token",
      authUrl: "https://idp.example/authorize",
      revokeUrl: "https://idp.example/revoke",
      deviceCodeUrl: "https://idp.example/device",
      validateUrl: "https://idp.example/userinfo",
      pkceMethods: ["S256"],
      tokenAuthMethod: "client_secret_basic",
      revocation: "rfc7009",
      pendingDiscovery: undefined,
    });
  });

  it("explicit settings win", () => {
    const out = applyDiscovery(
      target({ tokenUrl: "https://proxy.example/token", validateUrl: "https://api.example/me", pendingDiscovery: { issuer: "x", explicit: ["tokenUrl", "validateUrl"] } }),
      metadata,
    );
    expect(out.tokenUrl).toBe("https://proxy.example/token");
    expect(out.validateUrl).toBe("https://api.example/me");
    expect(out.authUrl).toBe("https://idp.example/authorize");
  });

  it("PKCE and client auth follow what the server advertises, unless set explicitly", () => {
    expect(applyDiscovery(target(), { ...metadata, codeChallengeMethodsSupported: ["plain"] }).pkceMethods).toEqual(["plain"]);
    expect(applyDiscovery(target(), { ...metadata, codeChallengeMethodsSupported: [] }).pkceMethods).toEqual(["none"]);
    expect(applyDiscovery(target(), { ...metadata }).pkceMethods).toEqual(["S256"]); // not advertised ≠ unsupported
    expect(applyDiscovery(target({ pendingDiscovery: { issuer: "x", explicit: ["pkceMethods"] } }), { ...metadata, codeChallengeMethodsSupported: ["plain"] }).pkceMethods).toEqual(["S256"]);
    expect(applyDiscovery(target(), { ...metadata, tokenEndpointAuthMethodsSupported: ["client_secret_post"] }).tokenAuthMethod).toBe("client_secret_post");
    expect(applyDiscovery(target(), { ...metadata, tokenEndpointAuthMethodsSupported: ["client_secret_basic", "client_secret_post"] }).tokenAuthMethod).toBe("client_secret_basic");
  });

  it("no revocation endpoint means revocation none; device flow without an endpoint is a config error", () => {
    const { revocationEndpoint: _r, deviceAuthorizationEndpoint: _d, ...bare } = metadata;
    expect(applyDiscovery(target(), bare).revocation).toBe("none");
    expect(() => applyDiscovery(target({ deviceFlow: true }), bare)).toThrow(OAuthError);
  });

  it("endpoints that are neither https nor loopback http are dropped", () => {
    const m = endpointsFromMetadata({ issuer: "https://idp.example", token_endpoint: "https://idp.example/token", revocation_endpoint: "http://idp.example/revoke" });
    expect(m.revocationEndpoint).toBeUndefined();
    expect(() => endpointsFromMetadata({ issuer: "https://idp.example", token_endpoint: "http://idp.example/token" })).toThrow(OAuthError);
  });
});

describe("authorization code + PKCE at oidc-provider, then RFC 7009 revocation", () => {
  it("links, refreshes, validates at userinfo, and revocation makes introspection say inactive", async () => {
    const p = applyDiscovery(pendingOidc(), await discoverOidc(idp.issuer, { timeoutMs }));
    const pkce = await createPkce(p.pkceMethods);
    const state = generateState();
    const url = buildAuthorizeUrl(p, { state, redirectUri: idp.redirectUri, codeChallenge: pkce?.codeChallenge, codeChallengeMethod: pkce?.codeChallengeMethod, scopes: p.scopes });

    // The browser's part: oidc-provider redirects through login and consent to the callback.
    const callback = await followToCallback(url, idp.redirectUri);
    expect(callback.searchParams.get("state")).toBe(state);
    const code = callback.searchParams.get("code");
    expect(code).toBeTruthy();

    const tokens = await exchangeCode(p, { code: code!, redirectUri: idp.redirectUri, codeVerifier: pkce!.codeVerifier, timeoutMs });
    expect(tokens.refreshToken).toBeDefined();
    expect(tokens.scope?.split(" ").sort()).toEqual(["offline_access", "openid"]);
    expect((await idp.introspect(tokens.accessToken)).active).toBe(true);
    expect((await validateToken(p.validateUrl!, tokens.accessToken, { timeoutMs })).outcome).toBe("valid");

    const refreshed = await refreshGrant(p, tokens.refreshToken!, { timeoutMs });
    const live = { access: refreshed.accessToken, refresh: refreshed.refreshToken ?? tokens.refreshToken! };
    expect((await idp.introspect(live.refresh)).active).toBe(true);

    expect(await revokeTokens(p, { refreshToken: live.refresh, accessToken: live.access, timeoutMs })).toEqual({ revoked: true });
    expect((await idp.introspect(live.refresh)).active).toBe(false);
    expect((await idp.introspect(live.access)).active).toBe(false);

    // A code is single-use. (Replaying it earlier would also have revoked the grant.)
    const replay = await exchangeCode(p, { code: code!, redirectUri: idp.redirectUri, codeVerifier: pkce!.codeVerifier, timeoutMs }).catch((e: unknown) => e);
    expect(replay).toBeInstanceOf(OAuthError);
    expect(replay).toMatchObject({ kind: "permanent", error: "invalid_grant" });
  });

  it("a verifier that does not match the challenge is invalid_grant", async () => {
    const p = applyDiscovery(pendingOidc(), await discoverOidc(idp.issuer, { timeoutMs }));
    const pkce = await createPkce(["S256"]);
    const url = buildAuthorizeUrl(p, { state: "s", redirectUri: idp.redirectUri, codeChallenge: pkce!.codeChallenge, codeChallengeMethod: "S256", scopes: p.scopes });
    const code = (await followToCallback(url, idp.redirectUri)).searchParams.get("code")!;
    const other = await createPkce(["S256"]);
    const e = await exchangeCode(p, { code, redirectUri: idp.redirectUri, codeVerifier: other!.codeVerifier, timeoutMs }).catch((x: unknown) => x);
    expect(e).toMatchObject({ kind: "permanent", error: "invalid_grant" });
  });
});
