import { describe, expect, it } from "vitest";
import { GITHUB_API_VERSION, planRevocation, revocationAnswer, revokeTokens, type RevokeProvider } from "../../src/oauth/revoke.js";
import { useCaptureServer } from "../support/scoped-fakes.js";
import { useLinkFake } from "./helpers.js";

const timeoutMs = 2000;

const basicOf = (id: string, secret: string): string => `Basic ${Buffer.from(`${id}:${secret}`).toString("base64")}`;

describe("planRevocation (pure)", () => {
  const p: RevokeProvider = {
    id: "p",
    clientId: "cid",
    clientSecret: "secret-1",
    tokenAuthMethod: "client_secret_basic",
    revokeUrl: "https://idp.example/revoke",
    apiBaseUrl: "https://api.github.com",
    revocation: "rfc7009",
  };

  it("RFC 7009: refresh token first, then the access token, each with its hint and client auth", () => {
    const plan = planRevocation(p, { refreshToken: "RT", accessToken: "AT" });
    expect(Array.isArray(plan)).toBe(true);
    const [first, second] = plan as Exclude<typeof plan, string>;
    expect(first).toMatchObject({ method: "POST", url: "https://idp.example/revoke", token: "refresh_token", style: "rfc7009" });
    expect(Object.fromEntries(new URLSearchParams(first!.body))).toEqual({ token: "RT", token_type_hint: "refresh_token" });
    expect(first!.headers.authorization).toBe(basicOf("cid", "secret-1"));
    expect(Object.fromEntries(new URLSearchParams(second!.body))).toEqual({ token: "AT", token_type_hint: "access_token" });
  });

  it("RFC 7009 with client_secret_post puts the credentials in the form", () => {
    const plan = planRevocation({ ...p, tokenAuthMethod: "client_secret_post" }, { accessToken: "AT" }) as Exclude<ReturnType<typeof planRevocation>, string>;
    expect(plan).toHaveLength(1);
    expect(plan[0]!.headers.authorization).toBeUndefined();
    expect(Object.fromEntries(new URLSearchParams(plan[0]!.body))).toEqual({ client_id: "cid", client_secret: "secret-1", token: "AT", token_type_hint: "access_token" });
  });

  it("GitHub: DELETE {api}/applications/{client_id}/grant, Basic auth, JSON access_token, API version header", () => {
    const plan = planRevocation({ ...p, revocation: "github-grant", revokeUrl: undefined }, { refreshToken: "RT", accessToken: "AT" });
    expect(plan).toEqual([
      {
        url: "https://api.github.com/applications/cid/grant",
        method: "DELETE",
        headers: {
          authorization: basicOf("cid", "secret-1"),
          "content-type": "application/json",
          "x-github-api-version": GITHUB_API_VERSION,
          "user-agent": "tokenbroker",
        },
        body: JSON.stringify({ access_token: "AT" }),
        style: "github-grant",
        token: "access_token",
      },
    ]);
  });

  it.each([
    ["none", { revocation: "none" as const }, { accessToken: "AT" }, "provider has no revocation endpoint"],
    ["no URL", { revokeUrl: undefined }, { accessToken: "AT" }, "provider has no revocation endpoint"],
    ["http off loopback", { revokeUrl: "http://idp.example/revoke" }, { accessToken: "AT" }, "revocation URL is neither https nor loopback http"],
    ["no tokens", {}, {}, "no token to revoke"],
    ["GitHub without an access token", { revocation: "github-grant" as const }, { refreshToken: "RT" }, "GitHub revokes a grant by its access token and none is stored"],
  ])("%s → no request", (_what, over, tokens, error) => {
    expect(planRevocation({ ...p, ...over }, tokens)).toBe(error);
  });

  it("answers: RFC 7009 needs 200, GitHub needs 204, Slack needs ok:true", () => {
    expect(revocationAnswer("rfc7009", 200, undefined)).toEqual({ ok: true });
    expect(revocationAnswer("rfc7009", 204, undefined).ok).toBe(false);
    expect(revocationAnswer("rfc7009", 400, { error: "unsupported_token_type" })).toEqual({ ok: false, error: "revocation endpoint answered HTTP 400 with unsupported_token_type" });
    expect(revocationAnswer("github-grant", 204, undefined)).toEqual({ ok: true });
    expect(revocationAnswer("github-grant", 200, {}).ok).toBe(false);
    expect(revocationAnswer("slack", 200, { ok: true })).toEqual({ ok: true });
    expect(revocationAnswer("slack", 200, { ok: false, error: "invalid_auth" })).toEqual({ ok: false, error: "auth.revoke answered HTTP 200 with invalid_auth" });
  });
});

describe("revokeTokens: RFC 7009 against the fake", () => {
  it("revokes the refresh token first, then the access token, authenticating the client; the grant is dead", async () => {
    const { fake, flows, p } = await useLinkFake();
    const t = fake.issue();
    expect(await revokeTokens(p, { refreshToken: t.refreshToken, accessToken: t.accessToken, timeoutMs })).toEqual({ revoked: true });
    expect(flows.revocations.map((r) => [r.tokenTypeHint, r.clientAuth, r.tokenKnown])).toEqual([
      ["refresh_token", "basic", true],
      ["access_token", "basic", true],
    ]);
    expect(flows.revocations[0]!.token).toBe(t.refreshToken);
    expect(fake.isValid(t.accessToken)).toBe(false);
  });

  it("client_secret_post authenticates in the body", async () => {
    const { fake, flows, p } = await useLinkFake();
    const t = fake.issue();
    expect(await revokeTokens({ ...p, tokenAuthMethod: "client_secret_post" }, { accessToken: t.accessToken, timeoutMs })).toEqual({ revoked: true });
    expect(flows.revocations[0]).toMatchObject({ clientAuth: "post", tokenTypeHint: "access_token" });
  });

  it("wrong client credentials: revoked false, the error names the status and never a token", async () => {
    const { fake, p } = await useLinkFake();
    const t = fake.issue();
    const r = await revokeTokens({ ...p, clientSecret: "wrong-secret" }, { refreshToken: t.refreshToken, accessToken: t.accessToken, timeoutMs });
    expect(r).toEqual({ revoked: false, error: "refresh token: revocation endpoint answered HTTP 401 with invalid_client" });
    expect(fake.isValid(t.accessToken)).toBe(true);
  });

  it("a failed refresh-token revocation is reported even when the access token's succeeded", async () => {
    const { fake, flows, p } = await useLinkFake();
    const t = fake.issue();
    flows.revokeFaults.push({ status: 503 });
    const r = await revokeTokens(p, { refreshToken: t.refreshToken, accessToken: t.accessToken, timeoutMs });
    expect(r).toEqual({ revoked: false, error: "refresh token: revocation endpoint answered HTTP 503" });
    expect(flows.revocations).toHaveLength(1); // the access token one
  });

  it("a provider that hangs: revoked false within the timeout", async () => {
    const { fake, flows, p } = await useLinkFake();
    const t = fake.issue();
    flows.revokeFaults.push({ hangMs: 3000 });
    const started = performance.now();
    const r = await revokeTokens(p, { refreshToken: t.refreshToken, timeoutMs: 200 });
    expect(performance.now() - started).toBeLessThan(1500);
    expect(r.revoked).toBe(false);
    expect(r.error).toMatch(/timed out/);
  });

  it("an unreachable endpoint and type none never throw", async () => {
    const { p } = await useLinkFake();
    const dead = await revokeTokens({ ...p, revokeUrl: "http://127.0.0.1:1/revoke" }, { accessToken: "a-token-value-123", timeoutMs });
    expect(dead.revoked).toBe(false);
    expect(dead.error).toMatch(/unreachable/);
    expect(await revokeTokens({ ...p, revocation: "none" }, { accessToken: "x", timeoutMs })).toEqual({ revoked: false, error: "provider has no revocation endpoint" });
  });
});

describe("revokeTokens: GitHub grant deletion against the fake", () => {
  it("DELETE with Basic auth and a JSON access token: 204, the grant is gone", async () => {
    const { fake, flows, p } = await useLinkFake({ mode: "github" });
    const gh = { ...p, revocation: "github-grant" as const, revokeUrl: undefined };
    const t = fake.issue();
    expect(await revokeTokens(gh, { refreshToken: t.refreshToken, accessToken: t.accessToken, timeoutMs })).toEqual({ revoked: true });
    expect(flows.revocations).toEqual([{ style: "github-grant", clientAuth: "basic", tokenKnown: true, token: t.accessToken }]);
    expect(fake.isValid(t.accessToken)).toBe(false);
  });

  it("the exact request on the wire", async () => {
    const capture = await useCaptureServer({ status: 204 });
    const gh: RevokeProvider = { id: "gh", clientId: "Iv1.abc", clientSecret: "s3cret-value", tokenAuthMethod: "client_secret_post", apiBaseUrl: capture.url, revocation: "github-grant" };
    expect(await revokeTokens(gh, { accessToken: "gho_token", timeoutMs })).toEqual({ revoked: true });
    const r = capture.requests[0]!;
    expect(r.method).toBe("DELETE");
    expect(r.path).toBe("/applications/Iv1.abc/grant");
    expect(r.headers.authorization).toBe(basicOf("Iv1.abc", "s3cret-value"));
    expect(r.headers["x-github-api-version"]).toBe(GITHUB_API_VERSION);
    expect(JSON.parse(r.body)).toEqual({ access_token: "gho_token" });
  });

  it.each([200, 404, 422, 500])("HTTP %i is not success", async (status) => {
    const capture = await useCaptureServer({ status, body: { message: "nope" } });
    const gh: RevokeProvider = { id: "gh", clientId: "c", clientSecret: "s", tokenAuthMethod: "client_secret_basic", apiBaseUrl: capture.url, revocation: "github-grant" };
    const r = await revokeTokens(gh, { accessToken: "gho_abcdefghijklmnopqrstuvwxyz0123", timeoutMs });
    expect(r).toEqual({ revoked: false, error: `access token: GitHub grant deletion answered HTTP ${status} (expected 204)` });
  });

  it("a wrong client is refused (404) and the grant stays", async () => {
    const { fake, p } = await useLinkFake({ mode: "github" });
    const t = fake.issue();
    const r = await revokeTokens({ ...p, revocation: "github-grant", revokeUrl: undefined, clientSecret: "not-it" }, { accessToken: t.accessToken, timeoutMs });
    expect(r.revoked).toBe(false);
    expect(r.error).not.toContain(t.accessToken);
    expect(fake.isValid(t.accessToken)).toBe(true);
  });

  it("a timeout: revoked false", async () => {
    const capture = await useCaptureServer({ status: 204, delayMs: 2000 });
    const gh: RevokeProvider = { id: "gh", clientId: "c", clientSecret: "s", tokenAuthMethod: "client_secret_basic", apiBaseUrl: capture.url, revocation: "github-grant" };
    const r = await revokeTokens(gh, { accessToken: "gho_x", timeoutMs: 150 });
    expect(r).toEqual({ revoked: false, error: "access token: revocation endpoint timed out after 150 ms" });
  });
});

describe("revokeTokens: Slack auth.revoke", () => {
  it("revokes with the token as bearer; ok:false is a failure", async () => {
    const { fake, flows, p } = await useLinkFake();
    const slack = { ...p, revocation: "slack" as const, revokeUrl: flows.slackRevokeUrl };
    const t = fake.issue();
    expect(await revokeTokens(slack, { accessToken: t.accessToken, refreshToken: t.refreshToken, timeoutMs })).toEqual({ revoked: true });
    expect(flows.revocations[0]).toMatchObject({ style: "slack", clientAuth: "bearer", token: t.accessToken });
    expect(fake.isValid(t.accessToken)).toBe(false);
    expect(await revokeTokens(slack, { accessToken: t.accessToken, timeoutMs })).toEqual({ revoked: false, error: "access token: auth.revoke answered HTTP 200 with invalid_auth" });
  });
});
