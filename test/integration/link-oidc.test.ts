import { status as grpcStatus } from "@grpc/grpc-js";
import { afterAll, beforeAll, describe, expect, it } from "vitest";
import type { Link } from "../../gen/tokenbroker/v1/link_pb.js";
import type { Token } from "../../gen/tokenbroker/v1/token_pb.js";
import { tempDir } from "../support/temp-dir.js";
import { followToCallback } from "../support/fake-oidc-login.js";
import { detailOf, grpcFailure, unary } from "../support/grpc.js";
import { freePort, secretsInStore, storeFiles, secretsInText, startLinkDaemon, startOidcIdp, visit, type LinkDaemon, type OidcIdp } from "./link-helpers.js";

/**
 * Issue 5 against a real authorization server: the daemon process links a
 * user at oidc-provider by authorization code + PKCE (S256), the browser's
 * part driven from here (login and consent answered in code), and unlinking
 * revokes at the provider (RFC 7009; introspection then says inactive).
 */

const PROVIDER = "oidc";

describe("authorization code + PKCE at oidc-provider, through the daemon process", () => {
  let idp: OidcIdp;
  let tb: LinkDaemon;
  const states: string[] = [];
  const callbackUrls: URL[] = [];

  beforeAll(async () => {
    // public_url must be known before the client is registered at the provider.
    const port = await freePort();
    idp = await startOidcIdp({ redirectUris: [`http://127.0.0.1:${port}/oauth/${PROVIDER}/callback`] });
    tb = await startLinkDaemon(
      tempDir("tb-link-oidc-"),
      [
        {
          id: PROVIDER,
          type: "oidc",
          issuer: idp.issuer,
          client_id: idp.clientId,
          client_secret: idp.clientSecret,
          // No auth_url_params: the oidc type asks for prompt=consent with offline_access itself (OpenID Connect Core §11).
        },
      ],
      { port },
    );
  });
  afterAll(async () => {
    await tb?.stop();
    await idp?.close();
  });

  async function link(userId: string, redirectAfter = ""): Promise<{ authorize: URL; callback: URL; answer: Awaited<ReturnType<typeof visit>> }> {
    const started = await unary<{ authorizeUrl: string; state: string }>(tb.links, "startLink", { userId, providerId: PROVIDER, redirectAfter });
    states.push(started.state);
    const authorize = new URL(started.authorizeUrl);
    // The browser: authorize → login interaction → consent interaction → authorize → the daemon's callback.
    const callback = await followToCallback(started.authorizeUrl, tb.callbackUrl(PROVIDER));
    callbackUrls.push(callback);
    const answer = await visit(callback);
    return { authorize, callback, answer };
  }

  it("StartLink → provider login and consent → callback → GetLink → ObtainAccessToken gives a token the provider accepts", async () => {
    const startedAt = Date.now();
    const { authorize, callback, answer } = await link("alice");

    // The authorize URL: discovered endpoint, PKCE S256, a state, the callback under public_url.
    expect(`${authorize.origin}${authorize.pathname}`).toBe(`${idp.issuer}/auth`);
    const q = authorize.searchParams;
    expect(q.get("response_type")).toBe("code");
    expect(q.get("client_id")).toBe(idp.clientId);
    expect(q.get("redirect_uri")).toBe(`${tb.publicUrl}/oauth/${PROVIDER}/callback`);
    expect(q.get("code_challenge_method")).toBe("S256");
    expect(q.get("code_challenge")).toMatch(/^[A-Za-z0-9_-]{43}$/);
    expect(q.get("state")).toBe(states.at(-1));
    expect(q.get("state")!.length).toBeGreaterThanOrEqual(22);
    expect(q.get("scope")?.split(" ").sort()).toEqual(["offline_access", "openid"]);
    expect(q.get("prompt")).toBe("consent");

    // The provider came back to the daemon with a code and our state.
    expect(callback.searchParams.get("state")).toBe(states.at(-1));
    expect(callback.searchParams.get("code")).toBeTruthy();
    expect(answer.status).toBe(200);
    expect(answer.body).toContain("Linked");
    expect(answer.headers.get("cache-control")).toBe("no-store");
    expect(answer.headers.get("referrer-policy")).toBe("no-referrer");
    expect(answer.body).not.toContain(callback.searchParams.get("code")!);
    expect(answer.body).not.toContain(states.at(-1)!);
    // The daemon exchanged the code (with the verifier) exactly once.
    expect(idp.requests.filter((r) => r === "authorization_code")).toEqual(["authorization_code"]);
    expect(idp.issued.verifiers).toHaveLength(1);

    const { link: got } = await unary<{ link: Link }>(tb.links, "getLink", { userId: "alice", providerId: PROVIDER });
    expect(got.userId).toBe("alice");
    expect(got.hasRefreshToken).toBe(true);
    // Whose link it is: the `sub` the discovered userinfo endpoint named; the scopes the token answer granted.
    expect(got.account).toBe(idp.accountId);
    expect([...got.grantedScopes].sort()).toEqual(["offline_access", "openid"]);
    expect(Number(got.createdAt!.seconds) * 1000).toBeGreaterThanOrEqual(Math.floor(startedAt / 1000) * 1000);

    const { token } = await unary<{ token: Token }>(tb.tokens, "obtainAccessToken", { userId: "alice", providerId: PROVIDER });
    expect(idp.issued.accessTokens).toContain(token.accessToken);
    const introspected = await idp.introspect(token.accessToken);
    expect(introspected.active).toBe(true);
    expect(introspected.sub).toBe(idp.accountId);
    expect(await idp.userinfo(token.accessToken)).toBe(200);
  });

  it("a relative redirect_after: the callback answers 302 to it", async () => {
    const { answer } = await link("bob", "/settings/integrations?linked=oidc");
    expect(answer.status).toBe(302);
    expect(answer.location).toBe("/settings/integrations?linked=oidc");
    await unary(tb.links, "getLink", { userId: "bob", providerId: PROVIDER });
  });

  it("the callback URL visited again (replayed state) → 400 and nothing changes", async () => {
    const before = await unary<{ link: Link }>(tb.links, "getLink", { userId: "alice", providerId: PROVIDER });
    const exchanges = idp.requests.length;
    const again = await visit(callbackUrls[0]!);
    expect(again.status).toBe(400);
    expect(again.body).toContain("Nothing was stored");
    expect(idp.requests.length).toBe(exchanges); // the code never went back to the provider
    const after = await unary<{ link: Link }>(tb.links, "getLink", { userId: "alice", providerId: PROVIDER });
    expect(after).toEqual(before);
    const { token } = await unary<{ token: Token }>(tb.tokens, "obtainAccessToken", { userId: "alice", providerId: PROVIDER });
    expect((await idp.introspect(token.accessToken)).active).toBe(true);
  });

  it("Unlink revokes at oidc-provider: introspection of the refresh and access tokens says inactive; the link is gone", async () => {
    const { token } = await unary<{ token: Token }>(tb.tokens, "obtainAccessToken", { userId: "alice", providerId: PROVIDER });
    const liveRefresh: string[] = [];
    for (const rt of idp.issued.refreshTokens) if ((await idp.introspect(rt)).active) liveRefresh.push(rt);
    expect(liveRefresh.length).toBe(2); // alice's and bob's
    expect((await idp.introspect(token.accessToken)).active).toBe(true);

    const res = await unary<{ tokenRevoked: boolean; revocationError: string }>(tb.links, "unlink", { userId: "alice", providerId: PROVIDER });
    expect(res).toMatchObject({ tokenRevoked: true, revocationError: "" });
    // RFC 7009: the refresh token first, then the access token; revoking the refresh token ends the grant.
    expect(idp.requests.filter((r) => r === "revocation").length).toBe(2);
    expect(idp.requests.filter((r) => r.startsWith("grant revoked"))).toHaveLength(1);

    expect((await idp.introspect(token.accessToken)).active).toBe(false);
    const stillLive: string[] = [];
    for (const rt of liveRefresh) if ((await idp.introspect(rt)).active) stillLive.push(rt);
    // alice's refresh token is dead; bob's is untouched.
    expect(stillLive).toHaveLength(1);
    const bob = await unary<{ token: Token }>(tb.tokens, "obtainAccessToken", { userId: "bob", providerId: PROVIDER });
    expect((await idp.introspect(bob.token.accessToken)).active).toBe(true);

    const gone = await grpcFailure(unary(tb.links, "getLink", { userId: "alice", providerId: PROVIDER }));
    expect(gone.code).toBe(grpcStatus.NOT_FOUND);
    expect(detailOf(gone)?.reason).toBe("LINK_NOT_FOUND");
    const noToken = await grpcFailure(unary(tb.tokens, "obtainAccessToken", { userId: "alice", providerId: PROVIDER }));
    expect(detailOf(noToken)?.reason).toBe("LINK_NOT_FOUND");
  });

  function secrets(): Map<string, string> {
    const m = new Map<string, string>();
    idp.issued.accessTokens.forEach((v, i) => m.set(`access token ${i}`, v));
    idp.issued.refreshTokens.forEach((v, i) => m.set(`refresh token ${i}`, v));
    idp.issued.codes.forEach((v, i) => m.set(`authorization code ${i}`, v));
    idp.issued.verifiers.forEach((v, i) => m.set(`PKCE verifier ${i}`, v));
    states.forEach((v, i) => m.set(`state ${i}`, v));
    m.set("client secret", idp.clientSecret);
    return m;
  }

  it("no token, code, PKCE verifier or state in tb.db / tb.db-wal, running and after stop; none in the logs", async () => {
    const s = secrets();
    expect(idp.issued.refreshTokens.length).toBeGreaterThanOrEqual(2);
    expect(idp.issued.verifiers.length).toBeGreaterThanOrEqual(2);
    expect(idp.issued.codes.length).toBeGreaterThanOrEqual(2);
    // A StartLink whose flow never completes leaves its sealed verifier in the store.
    await unary(tb.links, "startLink", { userId: "carol", providerId: PROVIDER });

    // The scan sees plaintext where there is some: user ids are stored in clear.
    expect(storeFiles(tb.dir).some((f) => f.bytes.includes(Buffer.from("bob")))).toBe(true);
    expect(secretsInStore(tb.dir, s)).toEqual([]);

    const logs = tb.daemon.output();
    expect(logs).toContain("link created by authorization code");
    expect(secretsInText(logs, s)).toEqual([]);

    await tb.stop();
    expect(secretsInStore(tb.dir, s)).toEqual([]);
    expect(secretsInText(tb.daemon.output(), s)).toEqual([]);
  });
});
