import { createHash, randomBytes } from "node:crypto";
import { setTimeout as sleep } from "node:timers/promises";
import { status as grpcStatus, type ServiceError } from "@grpc/grpc-js";
import { durationFromMs } from "@bufbuild/protobuf/wkt";
import { afterAll, beforeAll, describe, expect, it } from "vitest";
import type { Link } from "../../gen/tokenbroker/v1/link_pb.js";
import type { Token } from "../../gen/tokenbroker/v1/token_pb.js";
import { tempDir } from "../support/temp-dir.js";
import { enableLinkFlows, type LinkFlows } from "../support/fake-link-flows.js";
import { followToCallback } from "../support/fake-oidc-login.js";
import type { FakeProvider } from "../support/fake-provider.js";
import { useFakeProvider } from "../support/scoped-fakes.js";
import { detailOf, grpcFailure, unary } from "../support/grpc.js";
import { pollUntil } from "../support/poll.js";
import { recordVerifiers, secretsInStore, secretsInText, startLinkDaemon, storeFiles, visit, type LinkDaemon } from "./link-helpers.js";

/**
 * Issue 5, authorization code + PKCE against the GitHub-like fake
 * (fake-link-flows.ts in github mode) through the daemon process: the
 * callback's refusals (replayed, expired, wrong state, provider error),
 * redirect_after, auth_url_params, CompleteLink, and Unlink with revocation
 * (GitHub grant deletion, a hanging RFC 7009 endpoint, a race with
 * ObtainAccessToken).
 */

const GH = "gh";
const AUTH0 = "auth0";
const AUDIENCE = "https://api.example.com/";
const ALLOWED_ORIGIN = "https://app.example.com";

describe("authorization code + PKCE against a GitHub-like fake, through the daemon process", () => {
  let gh: FakeProvider;
  let ghFlows: LinkFlows;
  let ghVerifiers: string[];
  let std: FakeProvider;
  let stdFlows: LinkFlows;
  let stdVerifiers: string[];
  let tb: LinkDaemon;
  let shortTtl: LinkDaemon;
  const states: string[] = [];

  beforeAll(async () => {
    gh = await useFakeProvider({ mode: "github", clientId: "Iv1.gh-link-client", clientSecret: "gh-client-secret-0f9e8d7c6b5a" });
    ghFlows = enableLinkFlows(gh);
    ghVerifiers = recordVerifiers(gh);
    std = await useFakeProvider({ clientId: "auth0-link-client", clientSecret: "auth0-client-secret-1a2b3c4d5e" });
    stdFlows = enableLinkFlows(std);
    stdVerifiers = recordVerifiers(std);
    const providers = [
      {
        id: GH,
        type: "github",
        client_id: gh.clientId,
        client_secret: gh.clientSecret,
        auth_url: ghFlows.authorizeUrl,
        token_url: gh.tokenUrl,
        validate_url: gh.validateUrl,
        revoke_url: `${ghFlows.apiBaseUrl}/applications/${gh.clientId}/grant`,
      },
      {
        id: AUTH0,
        type: "oauth2",
        client_id: std.clientId,
        client_secret: std.clientSecret,
        auth_url: stdFlows.authorizeUrl,
        token_url: std.tokenUrl,
        validate_url: std.validateUrl,
        revoke_url: stdFlows.revokeUrl,
        scopes: ["openid", "offline_access"],
        auth_url_params: { audience: AUDIENCE },
      },
    ];
    tb = await startLinkDaemon(tempDir("tb-link-code-"), providers, {
      extra: { redirect_allowlist: [ALLOWED_ORIGIN] },
      // Small, so a hanging revocation endpoint is given up on quickly.
      refresh: { timeout: "1s" },
    });
    shortTtl = await startLinkDaemon(tempDir("tb-link-ttl-"), providers, { extra: { link_state_ttl: "1s" } });
  });
  afterAll(async () => {
    await tb?.stop();
    await shortTtl?.stop();
  });

  async function start(d: LinkDaemon, userId: string, providerId = GH, redirectAfter = ""): Promise<{ authorize: URL; state: string }> {
    const res = await unary<{ authorizeUrl: string; state: string }>(d.links, "startLink", { userId, providerId, redirectAfter });
    states.push(res.state);
    return { authorize: new URL(res.authorizeUrl), state: res.state };
  }

  /** The browser's way to the daemon's callback URL (not visited yet). */
  const toCallback = (d: LinkDaemon, authorize: URL, providerId = GH): Promise<URL> => followToCallback(authorize.toString(), d.callbackUrl(providerId));

  const getLink = (userId: string, providerId = GH, d = tb) => unary<{ link: Link }>(d.links, "getLink", { userId, providerId });
  const obtain = (userId: string, providerId = GH, minValidMs?: number) =>
    unary<{ token: Token }>(tb.tokens, "obtainAccessToken", { userId, providerId, ...(minValidMs !== undefined ? { minValidFor: durationFromMs(minValidMs) } : {}) });
  async function notLinked(userId: string, providerId = GH, d = tb): Promise<void> {
    const err = await grpcFailure(getLink(userId, providerId, d));
    expect(err.code).toBe(grpcStatus.NOT_FOUND);
    expect(detailOf(err)?.reason).toBe("LINK_NOT_FOUND");
  }
  async function linkCount(d = tb): Promise<number> {
    return (await unary<{ links: Link[] }>(d.links, "listLinks", { pageSize: 1000 })).links.length;
  }
  async function acceptedByProvider(fake: FakeProvider, token: string): Promise<number> {
    const res = await fetch(fake.validateUrl, { headers: { authorization: `Bearer ${token}` } });
    await res.arrayBuffer();
    return res.status;
  }

  let aliceCallback: URL;
  let aliceToken: string;

  it("StartLink → authorize → callback → GetLink → ObtainAccessToken gives a token the provider accepts", async () => {
    const { authorize, state } = await start(tb, "alice");
    expect(`${authorize.origin}${authorize.pathname}`).toBe(ghFlows.authorizeUrl);
    const q = authorize.searchParams;
    expect(q.get("response_type")).toBe("code");
    expect(q.get("client_id")).toBe(gh.clientId);
    expect(q.get("redirect_uri")).toBe(`${tb.publicUrl}/oauth/${GH}/callback`);
    expect(q.get("state")).toBe(state);
    expect(q.get("code_challenge_method")).toBe("S256");
    expect(q.get("scope")).toBe("repo workflow"); // the github catalog default

    aliceCallback = await toCallback(tb, authorize);
    expect(aliceCallback.searchParams.get("state")).toBe(state);
    const code = aliceCallback.searchParams.get("code")!;
    const exchanges = ghFlows.codeExchanges;
    const answer = await visit(aliceCallback);
    expect(answer.status).toBe(200);
    expect(answer.body).toContain("Your gh account is linked");
    expect(answer.body).not.toContain(code);
    expect(ghFlows.codeExchanges).toBe(exchanges + 1);
    // The verifier the daemon sent is the one behind the challenge on the authorize URL.
    expect(createHash("sha256").update(ghVerifiers.at(-1)!).digest("base64url")).toBe(q.get("code_challenge"));
    expect(ghFlows.codes.get(code)).toMatchObject({ used: true, codeChallengeMethod: "S256", redirectUri: tb.callbackUrl(GH) });

    const { link } = await getLink("alice");
    expect(link).toMatchObject({ userId: "alice", providerId: GH, hasRefreshToken: true });
    const { token } = await obtain("alice");
    aliceToken = token.accessToken;
    expect(gh.isValid(aliceToken)).toBe(true);
    expect(await acceptedByProvider(gh, aliceToken)).toBe(200);
  });

  it("a replayed state (the callback visited again) → 400, nothing changes and the code is not presented again", async () => {
    const before = await getLink("alice");
    const exchanges = ghFlows.codeExchanges;
    const again = await visit(aliceCallback);
    expect(again.status).toBe(400);
    expect(again.body).toContain("Nothing was stored");
    expect(again.body).not.toContain(aliceCallback.searchParams.get("code")!);
    expect(again.body).not.toContain(aliceCallback.searchParams.get("state")!);
    // The fake revokes everything a replayed code issued: the daemon must not have presented it.
    expect(ghFlows.codeExchanges).toBe(exchanges);
    expect(await getLink("alice")).toEqual(before);
    expect(gh.isValid(aliceToken)).toBe(true);
    expect((await obtain("alice")).token.accessToken).toBe(aliceToken);
  });

  it("an expired state (link_state_ttl 1s) → 400 and nothing stored", async () => {
    const { authorize } = await start(shortTtl, "frank");
    const callback = await toCallback(shortTtl, authorize);
    await sleep(1300);
    const exchanges = ghFlows.codeExchanges;
    const answer = await visit(callback);
    expect(answer.status).toBe(400);
    expect(answer.body).toContain("unknown, expired or already used");
    expect(ghFlows.codeExchanges).toBe(exchanges);
    await notLinked("frank", GH, shortTtl);
    expect(await linkCount(shortTtl)).toBe(0);
  });

  it("a wrong or missing state → 400 and nothing stored; the right state still works afterwards", async () => {
    const { authorize, state } = await start(tb, "dave");
    const callback = await toCallback(tb, authorize);
    const links = await linkCount();
    const exchanges = ghFlows.codeExchanges;

    const wrong = new URL(callback);
    wrong.searchParams.set("state", randomBytes(32).toString("base64url"));
    expect((await visit(wrong)).status).toBe(400);
    const missing = new URL(callback);
    missing.searchParams.delete("state");
    expect((await visit(missing)).status).toBe(400);
    const garbage = await visit(`${tb.callbackUrl(GH)}?state=x&code=y`);
    expect(garbage.status).toBe(400);

    expect(ghFlows.codeExchanges).toBe(exchanges);
    await notLinked("dave");
    expect(await linkCount()).toBe(links);

    // Guessing does not burn the real state.
    expect(callback.searchParams.get("state")).toBe(state);
    expect((await visit(callback)).status).toBe(200);
    await getLink("dave");
  });

  it("the same callback URL visited five times at once: one link, one code exchange, four 400s", async () => {
    const { authorize } = await start(tb, "kim");
    const callback = await toCallback(tb, authorize);
    const exchanges = ghFlows.codeExchanges;
    const answers = await Promise.all(Array.from({ length: 5 }, () => visit(callback)));
    expect(answers.map((a) => a.status).sort()).toEqual([200, 400, 400, 400, 400]);
    expect(ghFlows.codeExchanges).toBe(exchanges + 1);
    const { token } = await obtain("kim");
    expect(gh.isValid(token.accessToken)).toBe(true); // a replayed code would have revoked it
  });

  it("an injected code (issued for another flow) fails PKCE at the provider → 400, nothing stored, the state is spent", async () => {
    const victim = await start(tb, "lena");
    const attacker = await start(tb, "oscar");
    const attackerCode = (await toCallback(tb, attacker.authorize)).searchParams.get("code")!;
    const victimCallback = await toCallback(tb, victim.authorize);
    const injected = new URL(victimCallback);
    injected.searchParams.set("code", attackerCode);
    const answer = await visit(injected);
    expect(answer.status).toBe(400);
    expect(answer.body).not.toContain(attackerCode);
    await notLinked("lena");
    await notLinked("oscar");
    // The state was consumed by the failed attempt: the victim's genuine code cannot finish it either.
    expect((await visit(victimCallback)).status).toBe(400);
    await notLinked("lena");
  });

  it("a state presented at another provider's callback → 400, nothing stored, and the state is spent", async () => {
    const { authorize } = await start(tb, "eve", AUTH0);
    const callback = await toCallback(tb, authorize, AUTH0);
    const elsewhere = new URL(tb.callbackUrl(GH));
    elsewhere.search = callback.search;
    const exchanges = ghFlows.codeExchanges + stdFlows.codeExchanges;
    expect((await visit(elsewhere)).status).toBe(400);
    expect((await visit(callback)).status).toBe(400);
    expect(ghFlows.codeExchanges + stdFlows.codeExchanges).toBe(exchanges);
    await notLinked("eve", AUTH0);
    await notLinked("eve", GH);
  });

  it("the provider answers error=access_denied → 400, nothing stored, and that state cannot be used later", async () => {
    ghFlows.authorizeDecision = "deny";
    let callback: URL;
    try {
      const { authorize } = await start(tb, "erin");
      callback = await toCallback(tb, authorize);
    } finally {
      ghFlows.authorizeDecision = "approve";
    }
    expect(callback.searchParams.get("error")).toBe("access_denied");
    expect(callback.searchParams.get("code")).toBeNull();
    const answer = await visit(callback);
    expect(answer.status).toBe(400);
    expect(answer.body).toContain("access_denied");
    await notLinked("erin");

    // Had the state survived, the daemon would now present this code to the provider.
    const exchanges = ghFlows.codeExchanges;
    const late = new URL(tb.callbackUrl(GH));
    late.searchParams.set("state", callback.searchParams.get("state")!);
    late.searchParams.set("code", "fake_code_made_up");
    expect((await visit(late)).status).toBe(400);
    expect(ghFlows.codeExchanges).toBe(exchanges);
    await notLinked("erin");
  });

  it("odd requests to the callback: escaped error text, 405 for POST, 400 for a malformed path; the daemon keeps serving", async () => {
    const xss = new URL(tb.callbackUrl(GH));
    xss.searchParams.set("error", "<script>alert(1)</script>");
    xss.searchParams.set("state", "x");
    const page = await visit(xss);
    expect(page.status).toBe(400);
    expect(page.body).not.toContain("<script>");
    expect(page.headers.get("content-security-policy")).toBe("default-src 'none'");
    const post = await fetch(tb.callbackUrl(GH), { method: "POST", redirect: "manual" });
    await post.arrayBuffer();
    expect(post.status).toBe(405);
    const malformed = await visit(`${tb.publicUrl}/oauth/%E0%A4%A/callback?state=x&code=y`);
    expect(malformed.status).toBe(400);
    const unknownProvider = await visit(`${tb.publicUrl}/oauth/nope/callback?state=x&code=y`);
    expect(unknownProvider.status).toBe(400);
    await unary(tb.links, "listLinks", {});
  });

  it("redirect_after: a relative path → 302 to it; an allow-listed origin → 302; anything else → INVALID_ARGUMENT (redirect_after)", async () => {
    const rel = await start(tb, "ruth", GH, "/account/links?done=github");
    const relAnswer = await visit(await toCallback(tb, rel.authorize));
    expect(relAnswer.status).toBe(302);
    expect(relAnswer.location).toBe("/account/links?done=github");
    expect(relAnswer.headers.get("referrer-policy")).toBe("no-referrer");
    await getLink("ruth");

    const abs = await start(tb, "abe", GH, `${ALLOWED_ORIGIN}/done`);
    const absAnswer = await visit(await toCallback(tb, abs.authorize));
    expect(absAnswer.status).toBe(302);
    expect(absAnswer.location).toBe(`${ALLOWED_ORIGIN}/done`);

    for (const bad of ["https://evil.example/steal", "//evil.example/x", "/\\evil.example", "javascript:alert(1)", "https://app.example.com.evil.example/"]) {
      const before = states.length;
      const err = await grpcFailure(unary(tb.links, "startLink", { userId: "mallory", providerId: GH, redirectAfter: bad }));
      expect(err.code, bad).toBe(grpcStatus.INVALID_ARGUMENT);
      expect(detailOf(err)?.reason).toBe("INVALID_ARGUMENT");
      expect(detailOf(err)?.field).toBe("redirect_after");
      expect(states.length).toBe(before);
    }
    await notLinked("mallory");
  });

  it("Auth0-style auth_url_params: audience reaches the authorize URL and the provider", async () => {
    const { authorize } = await start(tb, "gina", AUTH0);
    expect(authorize.searchParams.get("audience")).toBe(AUDIENCE);
    expect(authorize.searchParams.get("code_challenge_method")).toBe("S256");
    expect(authorize.searchParams.get("scope")).toBe("openid offline_access");
    const answer = await visit(await toCallback(tb, authorize, AUTH0));
    expect(answer.status).toBe(200);
    expect(stdFlows.authorizeRequests.at(-1)?.get("audience")).toBe(AUDIENCE);
    const { token } = await obtain("gina", AUTH0);
    expect(std.isValid(token.accessToken)).toBe(true);
  });

  it("CompleteLink (the caller has its own callback) links, and its state is single-use too", async () => {
    const { authorize, state } = await start(tb, "hank");
    const callback = await toCallback(tb, authorize);
    const code = callback.searchParams.get("code")!;
    const { link } = await unary<{ link: Link }>(tb.links, "completeLink", { state, code });
    expect(link).toMatchObject({ userId: "hank", providerId: GH, hasRefreshToken: true });
    const { token } = await obtain("hank");
    expect(gh.isValid(token.accessToken)).toBe(true);

    const exchanges = ghFlows.codeExchanges;
    const again = await grpcFailure(unary(tb.links, "completeLink", { state, code }));
    expect(again.code).toBe(grpcStatus.INVALID_ARGUMENT);
    expect(detailOf(again)?.field).toBe("state");
    // Nor through the web callback.
    expect((await visit(callback)).status).toBe(400);
    expect(ghFlows.codeExchanges).toBe(exchanges);
    expect(gh.isValid(token.accessToken)).toBe(true);

    const unknown = await grpcFailure(unary(tb.links, "completeLink", { state: "never-issued", code }));
    expect(detailOf(unknown)?.field).toBe("state");

    // Their audit lines: the exchange contacted the provider; the refused second use did not.
    const lines = await pollUntil("the CompleteLink audit lines", () => completeLinkLines(tb), (l) => l.length >= 3, 5_000);
    expect(lines.value.map((l) => [l.outcome.grpc_code, l.provider_contacted, l.caller.name])).toEqual([
      ["OK", true, "test"],
      ["INVALID_ARGUMENT", false, "test"],
      ["INVALID_ARGUMENT", false, "test"],
    ]);
  });

  it("linking again replaces a link whose refresh failed (REAUTH_REQUIRED → working link)", async () => {
    // A linked token that expires within a second: the next ObtainAccessToken
    // (min_valid_for 60 s) refreshes. A freshly linked token's lifetime is not
    // known, so that refresh runs (docs/design.md §3 invariant 16).
    std.expiresInSec = 1;
    try {
      const first = await start(tb, "rita", AUTH0);
      const callback = await toCallback(tb, first.authorize, AUTH0);
      expect((await visit(callback)).status).toBe(200);
      const linked = stdFlows.codes.get(callback.searchParams.get("code")!)?.issued;
      expect(linked).toBeDefined();
      std.revoke(linked!.refreshToken); // the user revoked the app at the provider
      const reauth = await grpcFailure(obtain("rita", AUTH0));
      expect(detailOf(reauth)?.reason).toBe("REAUTH_REQUIRED");
      expect((await getLink("rita", AUTH0)).link.refreshFailure).toBeDefined();
    } finally {
      std.expiresInSec = 120;
    }
    const again = await start(tb, "rita", AUTH0);
    expect((await visit(await toCallback(tb, again.authorize, AUTH0))).status).toBe(200);
    const { link } = await getLink("rita", AUTH0);
    expect(link.refreshFailure).toBeUndefined();
    expect(link.hasRefreshToken).toBe(true);
    const { token } = await obtain("rita", AUTH0);
    expect(std.isValid(token.accessToken)).toBe(true);
  });

  it("Unlink at the GitHub-like fake: DELETE /applications/{client_id}/grant with Basic auth → 204, token_revoked, grant gone", async () => {
    const revocations = ghFlows.revocations.length;
    const res = await unary<{ tokenRevoked: boolean; revocationError: string }>(tb.links, "unlink", { userId: "alice", providerId: GH });
    expect(res).toEqual(expect.objectContaining({ tokenRevoked: true, revocationError: "" }));
    // The fake records a grant deletion only when it answered 204 to a Basic-authenticated DELETE.
    expect(ghFlows.revocations.slice(revocations)).toEqual([{ style: "github-grant", clientAuth: "basic", tokenKnown: true, token: aliceToken }]);
    expect(gh.isValid(aliceToken)).toBe(false);
    expect(await acceptedByProvider(gh, aliceToken)).toBe(401);

    await notLinked("alice");
    const noToken = await grpcFailure(obtain("alice"));
    expect(noToken.code).toBe(grpcStatus.NOT_FOUND);
    expect(detailOf(noToken)?.reason).toBe("LINK_NOT_FOUND");
    const twice = await grpcFailure(unary(tb.links, "unlink", { userId: "alice", providerId: GH }));
    expect(detailOf(twice)?.reason).toBe("LINK_NOT_FOUND");
    // Other users' links are untouched.
    expect(gh.isValid((await obtain("hank")).token.accessToken)).toBe(true);
  });

  it("a revocation endpoint that hangs: the unlink still happens within refresh.timeout (1s), token_revoked false with revocation_error", async () => {
    const { token } = await obtain("gina", AUTH0);
    stdFlows.revokeFaults.push({ hangMs: 15_000 }, { hangMs: 15_000 });
    try {
      const t0 = performance.now();
      const res = await unary<{ tokenRevoked: boolean; revocationError: string }>(tb.links, "unlink", { userId: "gina", providerId: AUTH0 }, { deadlineMs: 10_000 });
      const ms = performance.now() - t0;
      expect(res.tokenRevoked).toBe(false);
      expect(res.revocationError).toMatch(/refresh token/);
      expect(res.revocationError).not.toContain(token.accessToken);
      expect(ms).toBeGreaterThanOrEqual(900);
      expect(ms).toBeLessThan(3000);
    } finally {
      stdFlows.revokeFaults.splice(0);
    }
    await notLinked("gina", AUTH0);
    expect(detailOf(await grpcFailure(obtain("gina", AUTH0)))?.reason).toBe("LINK_NOT_FOUND");
    // It really was not revoked: the provider still honours the token (the daemon no longer has it).
    expect(std.isValid(token.accessToken)).toBe(true);
  });

  /**
   * Callers hammer ObtainAccessToken while Unlink runs. Every answer is the
   * link's token or LINK_NOT_FOUND; every call sent after Unlink answered is
   * LINK_NOT_FOUND; and every token handed out was revoked by that Unlink.
   */
  async function raceUnlink(userId: string, opts: { refreshing: boolean }): Promise<{ tokens: Set<string>; notFound: number }> {
    // Refreshing: the provider's tokens live 1 s and take 100 ms to come
    // back, so a fresh one has about 900 ms left (lifetimes count from the
    // send); callers ask for 700 ms, so a token serves for about 200 ms and a
    // refresh is in flight most of the time. Asking for more than a fresh
    // token can have would be MIN_VALIDITY_UNREACHABLE (docs/design.md §3
    // invariant 16).
    std.expiresInSec = opts.refreshing ? 1 : 3600;
    const minValidMs = opts.refreshing ? 700 : undefined;
    std.latencyMs = opts.refreshing ? 100 : 0;
    try {
      const { authorize } = await start(tb, userId, AUTH0);
      expect((await visit(await toCallback(tb, authorize, AUTH0))).status).toBe(200);
      const calls: Array<{ sentAt: number; token?: string; err?: ServiceError }> = [];
      let unlinkedAt = Number.POSITIVE_INFINITY;
      const deadline = performance.now() + 10_000;
      const worker = async (): Promise<void> => {
        while (performance.now() < deadline) {
          const call: (typeof calls)[number] = { sentAt: performance.now() };
          calls.push(call);
          try {
            call.token = (await obtain(userId, AUTH0, minValidMs)).token.accessToken;
          } catch (err) {
            call.err = err as ServiceError;
            if (detailOf(err)?.reason === "LINK_NOT_FOUND" && call.sentAt > unlinkedAt) return;
          }
        }
      };
      const workers = Array.from({ length: 8 }, worker);
      await sleep(opts.refreshing ? 350 : 150);
      const revocationsBefore = stdFlows.revocations.length;
      const res = await unary<{ tokenRevoked: boolean; revocationError: string }>(tb.links, "unlink", { userId, providerId: AUTH0 });
      unlinkedAt = performance.now();
      await Promise.all(workers);
      expect(res).toMatchObject({ tokenRevoked: true, revocationError: "" });
      expect(stdFlows.revocations.slice(revocationsBefore).map((r) => r.tokenTypeHint)).toEqual(["refresh_token", "access_token"]);

      const tokens = new Set<string>();
      let notFound = 0;
      for (const c of calls) {
        if (c.err !== undefined) {
          expect(detailOf(c.err)?.reason, c.err.message).toBe("LINK_NOT_FOUND");
          notFound++;
        } else {
          expect(c.sentAt, "a token for a call sent after Unlink answered").toBeLessThan(unlinkedAt);
          tokens.add(c.token!);
        }
      }
      expect(calls.filter((c) => c.sentAt > unlinkedAt).every((c) => c.err !== undefined)).toBe(true);
      expect(calls.some((c) => c.sentAt > unlinkedAt)).toBe(true);
      expect(tokens.size).toBeGreaterThan(0);
      // Whatever was handed out came from the provider before and died with the unlink.
      for (const t of tokens) {
        expect(std.issuedTokens()).toContain(t);
        expect(std.isValid(t)).toBe(false);
      }
      expect(std.replays).toBe(0);
      // No refresh that was in flight brought the link back.
      await sleep(300);
      await notLinked(userId, AUTH0);
      return { tokens, notFound };
    } finally {
      std.expiresInSec = 120;
      std.latencyMs = 0;
    }
  }

  it("ObtainAccessToken racing Unlink (token fresh): the link's token or LINK_NOT_FOUND, never a token after Unlink answered", async () => {
    const { tokens, notFound } = await raceUnlink("ivan", { refreshing: false });
    expect(tokens.size).toBe(1);
    expect(notFound).toBeGreaterThan(0);
  });

  it("ObtainAccessToken racing Unlink while refreshes are in flight: no refreshed token outlives the unlink", async () => {
    const refreshes = std.refreshes;
    const { notFound } = await raceUnlink("judy", { refreshing: true });
    expect(std.refreshes - refreshes).toBeGreaterThan(0);
    expect(notFound).toBeGreaterThan(0);
  });

  /**
   * KNOWN GAP (reported, not fixed: the fix belongs in src/broker or needs an
   * engine API). Unlink deletes the row while a refresh is in flight; the
   * GitHub-like provider has already rotated (in github mode the old access
   * token dies), so the grant deletion is sent with a superseded access token
   * and refused (422). The daemon then discards the refresh result without
   * revoking it: the new tokens stay live at the provider, held by nobody.
   * What must hold holds (the link is gone, the racing caller gets
   * LINK_NOT_FOUND, the daemon reports token_revoked false instead of lying);
   * the last assertion pins the gap and should flip to 0 once fixed.
   */
  it("Unlink while a GitHub refresh is in flight waits for it, then revokes the rotated grant: nothing stays live", async () => {
    // The link's token expires within a second, so the next ObtainAccessToken
    // (min_valid_for 60 s) refreshes; the refresh then issues 120 s tokens,
    // which satisfy it (docs/design.md §3 invariant 16).
    gh.expiresInSec = 1;
    let release = (): void => {};
    const held = new Promise<void>((r) => (release = r));
    let minted = (): void => {};
    const rotated = new Promise<void>((r) => (minted = r));
    try {
      const before = new Set(gh.issuedTokens());
      const { authorize } = await start(tb, "zoe");
      expect((await visit(await toCallback(tb, authorize))).status).toBe(200);
      gh.expiresInSec = 120;
      gh.beforeRespond = async (ctx) => {
        if (ctx.presentedRefreshToken === undefined) return;
        minted();
        await held; // the provider has rotated; its answer has not reached the daemon yet
      };
      const racing = obtain("zoe").then(
        (t) => t,
        (e: unknown) => e,
      );
      await rotated;
      const unlinking = unary<{ tokenRevoked: boolean; revocationError: string }>(tb.links, "unlink", { userId: "zoe", providerId: GH });
      await new Promise((r) => setTimeout(r, 200));
      release();
      const res = await unlinking;
      // The refresh committed before the unlink took the link's lock: the racing
      // caller got a token issued before the unlink answered, and the unlink
      // revoked exactly that grant.
      expect(await racing).toHaveProperty("token.accessToken");
      await notLinked("zoe");
      expect(res).toMatchObject({ tokenRevoked: true, revocationError: "" });
      const live = gh.issuedTokens().filter((t) => !before.has(t) && gh.isValid(t));
      expect(live).toHaveLength(0);
    } finally {
      release();
      gh.beforeRespond = undefined;
      gh.expiresInSec = 120;
    }
  });

  function secrets(): Map<string, string> {
    const m = new Map<string, string>();
    for (const [name, fake, flows, verifiers] of [
      ["gh", gh, ghFlows, ghVerifiers],
      ["auth0", std, stdFlows, stdVerifiers],
    ] as const) {
      fake.issuedTokens().forEach((v, i) => m.set(`${name} token ${i}`, v));
      [...flows.codes.keys()].forEach((v, i) => m.set(`${name} code ${i}`, v));
      verifiers.forEach((v, i) => m.set(`${name} PKCE verifier ${i}`, v));
      m.set(`${name} client secret`, fake.clientSecret);
    }
    states.forEach((v, i) => m.set(`state ${i}`, v));
    return m;
  }

  it("no token, code, PKCE verifier, state or client secret in tb.db / tb.db-wal (running, then stopped) or in the logs", async () => {
    const s = secrets();
    expect(ghVerifiers.length).toBeGreaterThanOrEqual(5);
    expect(stdVerifiers.length).toBeGreaterThanOrEqual(3);
    expect(gh.issuedTokens().length).toBeGreaterThanOrEqual(10);
    expect(storeFiles(tb.dir).map((f) => f.name)).toEqual(expect.arrayContaining(["tb.db", "tb.db-wal"]));
    for (const d of [tb, shortTtl]) {
      expect(secretsInStore(d.dir, s)).toEqual([]);
      expect(secretsInText(d.daemon.output(), s)).toEqual([]);
    }
    // The scan finds what is stored in clear (user ids), so a clear token would have been found too.
    expect(storeFiles(tb.dir).some((f) => f.bytes.includes(Buffer.from("hank")))).toBe(true);
    expect(tb.daemon.output()).toContain("link created by authorization code");
    expect(tb.daemon.output()).toContain("token refreshed");

    await tb.stop();
    await shortTtl.stop();
    for (const d of [tb, shortTtl]) {
      expect(secretsInStore(d.dir, s)).toEqual([]);
      expect(secretsInText(d.daemon.output(), s)).toEqual([]);
    }
  });
});

/** The daemon's audit lines for LinkService.CompleteLink, in order. */
function completeLinkLines(d: LinkDaemon): Array<{ outcome: { grpc_code: string }; provider_contacted: boolean; caller: { name: string | null } }> {
  return d.daemon
    .output()
    .split("\n")
    .filter((l) => l.startsWith("{") && l.includes('"audit":true') && l.includes("/tokenbroker.v1.LinkService/CompleteLink"))
    .map((l) => JSON.parse(l) as { outcome: { grpc_code: string }; provider_contacted: boolean; caller: { name: string | null } });
}
