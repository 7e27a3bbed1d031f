import { describe, expect, it } from "vitest";
import { buildAuthorizeUrl } from "../../src/oauth/authorize.js";
import { exchangeCode } from "../../src/oauth/code-exchange.js";
import { createPkce, generateState } from "../../src/oauth/pkce.js";
import type { OAuthProvider } from "../../src/oauth/provider.js";
import { refreshGrant } from "../../src/oauth/refresh.js";
import { validateToken } from "../../src/oauth/validate.js";
import { useCaptureServer } from "../support/scoped-fakes.js";
import { approveAt, expectOAuthError, useLinkFake } from "./helpers.js";

const REDIRECT = "http://127.0.0.1:7481/oauth/fake/callback";
const timeoutMs = 2000;


/** StartLink's half: PKCE, state, the URL; then the user approves at the fake. */
async function authorize(p: OAuthProvider): Promise<{ code: string; state: string; verifier: string | undefined; returnedState: string | null }> {
  const pkce = await createPkce(p.pkceMethods);
  const state = generateState();
  const url = buildAuthorizeUrl(p, {
    state,
    redirectUri: REDIRECT,
    codeChallenge: pkce?.codeChallenge,
    codeChallengeMethod: pkce?.codeChallengeMethod,
    scopes: p.scopes,
  });
  const cb = await approveAt(url);
  return { code: cb.get("code") ?? "", state, verifier: pkce?.codeVerifier, returnedState: cb.get("state") };
}

describe("authorization code + PKCE against the fake provider", () => {
  it("exchanges the code for tokens the provider accepts, and they refresh", async () => {
    const { fake, flows, p } = await useLinkFake();
    const a = await authorize(p);
    expect(a.returnedState).toBe(a.state);
    const sent = flows.authorizeRequests[0]!;
    expect(sent.get("code_challenge_method")).toBe("S256");
    expect(sent.get("redirect_uri")).toBe(REDIRECT);

    const tokens = await exchangeCode(p, { code: a.code, redirectUri: REDIRECT, codeVerifier: a.verifier, timeoutMs });
    expect(fake.isValid(tokens.accessToken)).toBe(true);
    expect(tokens.refreshToken).toBeDefined();
    expect(tokens.tokenType).toBe("bearer");
    expect(tokens.expiresInSec).toBe(120);
    expect(fake.lastClientAuth).toBe("basic");
    expect((await validateToken(fake.validateUrl, tokens.accessToken, { timeoutMs })).outcome).toBe("valid");

    const refreshed = await refreshGrant(p, tokens.refreshToken!, { timeoutMs });
    expect(fake.isValid(refreshed.accessToken)).toBe(true);
  });

  it("a replayed code is invalid_grant (permanent) and the fake revokes what the code issued", async () => {
    const { fake, p } = await useLinkFake();
    const a = await authorize(p);
    const first = await exchangeCode(p, { code: a.code, redirectUri: REDIRECT, codeVerifier: a.verifier, timeoutMs });
    await expectOAuthError(
      exchangeCode(p, { code: a.code, redirectUri: REDIRECT, codeVerifier: a.verifier, timeoutMs }),
      { kind: "permanent", status: 400, error: "invalid_grant" },
      [a.code, a.verifier!, fake.clientSecret],
    );
    expect(fake.isValid(first.accessToken)).toBe(false);
  });

  it("a wrong verifier, a missing verifier or another redirect URI is invalid_grant", async () => {
    const { p } = await useLinkFake();
    const a = await authorize(p);
    await expectOAuthError(exchangeCode(p, { code: a.code, redirectUri: REDIRECT, codeVerifier: "x".repeat(43), timeoutMs }), {
      kind: "permanent",
      status: 400,
      error: "invalid_grant",
    });
    const b = await authorize(p);
    await expectOAuthError(exchangeCode(p, { code: b.code, redirectUri: REDIRECT, timeoutMs }), { kind: "permanent", status: 400, error: "invalid_grant" });
    const c = await authorize(p);
    await expectOAuthError(exchangeCode(p, { code: c.code, redirectUri: "http://127.0.0.1:9/elsewhere", codeVerifier: c.verifier, timeoutMs }), {
      kind: "permanent",
      status: 400,
      error: "invalid_grant",
    });
  });

  it("pkce_methods [none]: no challenge on the URL and no verifier in the exchange", async () => {
    const { fake, flows, p } = await useLinkFake();
    const noPkce = { ...p, pkceMethods: ["none" as const] };
    const a = await authorize(noPkce);
    expect(a.verifier).toBeUndefined();
    expect(flows.authorizeRequests[0]!.has("code_challenge")).toBe(false);
    const tokens = await exchangeCode(noPkce, { code: a.code, redirectUri: REDIRECT, timeoutMs });
    expect(fake.isValid(tokens.accessToken)).toBe(true);
  });

  it("client_secret_post and plain PKCE work too", async () => {
    const { fake, p } = await useLinkFake();
    const post = { ...p, tokenAuthMethod: "client_secret_post" as const, pkceMethods: ["plain" as const] };
    const a = await authorize(post);
    const tokens = await exchangeCode(post, { code: a.code, redirectUri: REDIRECT, codeVerifier: a.verifier, timeoutMs });
    expect(fake.isValid(tokens.accessToken)).toBe(true);
    expect(fake.lastClientAuth).toBe("post");
  });

  it("GitHub dialect: HTTP 200 error bodies are classified, form-encoded success bodies parsed", async () => {
    const { fake, p } = await useLinkFake({ mode: "github", formEncoded: true });
    const gh = { ...p, tokenAuthMethod: "client_secret_post" as const };
    const a = await authorize(gh);
    const tokens = await exchangeCode(gh, { code: a.code, redirectUri: REDIRECT, codeVerifier: a.verifier, timeoutMs });
    expect(fake.isValid(tokens.accessToken)).toBe(true);
    expect("scope" in tokens).toBe(false);

    await expectOAuthError(exchangeCode(gh, { code: a.code, redirectUri: REDIRECT, codeVerifier: a.verifier, timeoutMs }), {
      kind: "permanent",
      status: 200,
      error: "bad_verification_code",
    });
    const b = await authorize(gh);
    await expectOAuthError(exchangeCode({ ...gh, clientSecret: "wrong" }, { code: b.code, redirectUri: REDIRECT, codeVerifier: b.verifier, timeoutMs }), {
      kind: "client_credentials",
      status: 200,
      error: "incorrect_client_credentials",
    });
  });

  it("wrong client credentials (standard) are client_credentials; a 503 is transient; an empty code is refused unsent", async () => {
    const { fake, p } = await useLinkFake();
    const a = await authorize(p);
    await expectOAuthError(exchangeCode({ ...p, clientSecret: "nope" }, { code: a.code, redirectUri: REDIRECT, codeVerifier: a.verifier, timeoutMs }), {
      kind: "client_credentials",
      status: 401,
      error: "invalid_client",
    });
    fake.failNext(1, { status: 503, retryAfterSec: 3 });
    const err = await expectOAuthError(exchangeCode(p, { code: "whatever", redirectUri: REDIRECT, timeoutMs }), { kind: "transient", status: 503 });
    expect(err.retryAfterMs).toBe(3000);
    const before = fake.tokenRequests;
    await expectOAuthError(exchangeCode(p, { code: "", redirectUri: REDIRECT, timeoutMs }), { kind: "permanent" });
    expect(fake.tokenRequests).toBe(before);
  });

  it("configured extra keys are read from the code response (Slack's authed_user)", async () => {
    const { p } = await useLinkFake({ extra: { ok: true, authed_user: { id: "U1", access_token: "xoxp-user-token" } } });
    const slackish = { ...p, extraTokenKeys: ["authed_user.id", "authed_user.access_token"] };
    const a = await authorize(slackish);
    const tokens = await exchangeCode(slackish, { code: a.code, redirectUri: REDIRECT, codeVerifier: a.verifier, timeoutMs });
    expect(tokens.extra).toEqual({ "authed_user.id": "U1", "authed_user.access_token": "xoxp-user-token" });
  });
});

describe("provider dialects on the wire", () => {
  const base = (url: string, o: Partial<OAuthProvider>): OAuthProvider => ({
    id: "d",
    clientId: "cid",
    clientSecret: "csecret-value",
    tokenUrl: `${url}/token`,
    scopes: [],
    extraTokenKeys: [],
    pkceMethods: ["none"],
    tokenAuthMethod: "client_secret_post",
    authUrlParams: {},
    revocation: "none",
    quirks: "standard",
    ...o,
  });
  const ok = { status: 200, body: { access_token: "at-1", token_type: "bearer", expires_in: 60, refresh_token: "rt-1" } };

  it("JFrog: the client secret goes as a bearer token, client_id in the body", async () => {
    const capture = await useCaptureServer(ok);
    const p = base(capture.url, { quirks: "jfrog" });
    await exchangeCode(p, { code: "c1", redirectUri: REDIRECT, timeoutMs });
    const r = capture.requests[0]!;
    expect(r.headers.authorization).toBe("Bearer csecret-value");
    expect(r.form.get("client_id")).toBe("cid");
    expect(r.form.has("client_secret")).toBe(false);
    expect(r.form.get("grant_type")).toBe("authorization_code");
  });

  it("legacy Azure DevOps: jwt-bearer grant with the code as assertion and the secret as client_assertion; refresh too", async () => {
    const capture = await useCaptureServer(ok);
    const p = base(capture.url, { quirks: "azure-devops" });
    await exchangeCode(p, { code: "ado-code", redirectUri: REDIRECT, timeoutMs });
    const form = Object.fromEntries(capture.requests[0]!.form);
    expect(form).toEqual({
      grant_type: "urn:ietf:params:oauth:grant-type:jwt-bearer",
      assertion: "ado-code",
      redirect_uri: REDIRECT,
      client_assertion_type: "urn:ietf:params:oauth:client-assertion-type:jwt-bearer",
      client_assertion: "csecret-value",
    });
    await refreshGrant(p, "rt-0", { timeoutMs, redirectUri: REDIRECT });
    expect(Object.fromEntries(capture.requests[1]!.form)).toMatchObject({ grant_type: "refresh_token", assertion: "rt-0", redirect_uri: REDIRECT, client_assertion: "csecret-value" });
  });

  it("Entra: the configured scopes are sent on refresh (scopeOnRefresh), not otherwise", async () => {
    const capture = await useCaptureServer(ok);
    const scopes = ["499b84ac-1321-427f-aa17-267ca6975798/.default", "offline_access"];
    await refreshGrant(base(capture.url, { scopes, scopeOnRefresh: true }), "rt", { timeoutMs });
    expect(capture.requests[0]!.form.get("scope")).toBe(scopes.join(" "));
    await refreshGrant(base(capture.url, { scopes }), "rt", { timeoutMs });
    expect(capture.requests[1]!.form.has("scope")).toBe(false);
  });

  it("Slack: HTTP 200 {ok:false} is an error, and a user/bot token_type is accepted", async () => {
    const capture = await useCaptureServer({ status: 200, body: { ok: false, error: "invalid_code" } });
    const p = base(capture.url, { quirks: "slack", tokenAuthMethod: "client_secret_basic" });
    await expectOAuthError(exchangeCode(p, { code: "c", redirectUri: REDIRECT, timeoutMs }), { kind: "permanent", status: 200, error: "invalid_code" });
    capture.replies.push({ status: 200, body: { ok: true, access_token: "xoxb-1", token_type: "bot", authed_user: { id: "U1" } } });
    const t = await exchangeCode({ ...p, extraTokenKeys: ["authed_user.id"] }, { code: "c", redirectUri: REDIRECT, timeoutMs });
    expect(t).toMatchObject({ accessToken: "xoxb-1", tokenType: "bot", extra: { "authed_user.id": "U1" } });
    expect(capture.requests[1]!.headers.authorization).toMatch(/^Basic /);
  });
});
