import { describe, expect, it } from "vitest";
import type { OAuthError } from "../../src/oauth/oauth-error.js";
import { refreshGrant } from "../../src/oauth/refresh.js";
import type { TokenSet } from "../../src/oauth/token-normalize.js";
import { validateToken } from "../../src/oauth/validate.js";
import { useFakeProvider } from "../support/scoped-fakes.js";
import { TokenLedger } from "../support/token-ledger.js";
import { endpointsFor, expectOAuthError } from "./helpers.js";

const opts = { timeoutMs: 2000 };

describe("fake provider", () => {
  it("binds 127.0.0.1 on an ephemeral port and exposes its endpoints", async () => {
    const f = await useFakeProvider();
    expect(f.url).toMatch(/^http:\/\/127\.0\.0\.1:\d+$/);
    expect(f.tokenUrl).toBe(`${f.url}/token`);
    expect(f.validateUrl).toBe(`${f.url}/user`);
  });

  it("issue() seeds a family; withRefresh: false gives an access token only", async () => {
    const f = await useFakeProvider({ expiresInSec: 60 });
    const before = Date.now();
    const t = f.issue();
    expect(f.isValid(t.accessToken)).toBe(true);
    expect(t.expiresAt).toBeGreaterThanOrEqual(before + 60_000);
    const a = f.issue({ withRefresh: false, accessTtlSec: 5 });
    expect(a.refreshToken).toBeUndefined();
    expect(f.isValid(a.accessToken)).toBe(true);
  });

  it("status() tells a token that merely expired from one replaced or revoked", () => {
    const ledger = new TokenLedger();
    const redeem = { rotate: true, accessTtlSec: 60, numericRefreshToken: false, graceSec: 0 };
    const expired = ledger.seed(0, true);
    expect(ledger.status(expired.accessToken)).toBe("expired");
    expect(ledger.isValid(expired.accessToken)).toBe(false);
    const first = ledger.redeem(expired.refreshToken, { ...redeem, supersedeAccess: true });
    if (first.outcome !== "issued") throw new Error("the seed's refresh token was refused");
    expect(ledger.status(first.accessToken)).toBe("valid");
    const second = ledger.redeem(first.refreshToken, { ...redeem, supersedeAccess: true });
    if (second.outcome !== "issued") throw new Error("the rotated refresh token was refused");
    expect(ledger.status(first.accessToken)).toBe("superseded");
    expect(ledger.status(second.accessToken)).toBe("valid");
    // Presenting a spent refresh token again revokes the family, the current token too.
    expect(ledger.redeem(first.refreshToken, { ...redeem, supersedeAccess: false })).toMatchObject({ outcome: "dead", replay: true });
    expect(ledger.status(second.accessToken)).toBe("revoked");
    expect(ledger.status("fake_at_never-issued")).toBe("unknown");
  });

  it("concurrent refreshes with one token: one wins, the replay revokes the winner's tokens too", async () => {
    const f = await useFakeProvider({ latencyMs: 50 });
    const seed = f.issue();
    const results = await Promise.allSettled([
      refreshGrant(endpointsFor(f), seed.refreshToken, opts),
      refreshGrant(endpointsFor(f), seed.refreshToken, opts),
    ]);
    const won = results.filter((r): r is PromiseFulfilledResult<TokenSet> => r.status === "fulfilled");
    const lost = results.filter((r): r is PromiseRejectedResult => r.status === "rejected");
    expect(won).toHaveLength(1);
    expect(lost).toHaveLength(1);
    expect((lost[0]!.reason as OAuthError).error).toBe("invalid_grant");
    expect(f.peakInFlight).toBe(2);
    expect(f.inFlight).toBe(0);
    expect(f.tokenRequests).toBe(2);
    expect(f.refreshes).toBe(1);
    expect(f.rejections).toBe(1);
    expect(f.replays).toBe(1);
    expect(f.revokedFamilies).toBe(1);
    // The family is dead: the winner's new tokens no longer work.
    expect(f.isValid(won[0]!.value.accessToken)).toBe(false);
    await expectOAuthError(refreshGrant(endpointsFor(f), won[0]!.value.refreshToken!, opts), {
      kind: "permanent",
      status: 400,
      error: "invalid_grant",
    });
    expect(f.revokedFamilies).toBe(1); // revoking twice counts once
  });

  it("beforeRespond runs after the refresh is decided, before the answer: races can be staged", async () => {
    const f = await useFakeProvider();
    const seed = f.issue();
    const seen: string[] = [];
    let raced: TokenSet | undefined;
    f.beforeRespond = async (ctx) => {
      if (ctx.index === 1) {
        expect(ctx.presentedRefreshToken).toBe(seed.refreshToken);
        expect(f.isValid(ctx.issued!.accessToken)).toBe(true);
        // A second request lands while the first answer is still on its way.
        raced = await refreshGrant(endpointsFor(f), ctx.issued!.refreshToken, opts);
      }
      seen.push(`${ctx.index}:${ctx.outcome}`); // order in which answers are released
    };
    const first = await refreshGrant(endpointsFor(f), seed.refreshToken, opts);
    expect(seen).toEqual(["2:issued", "1:issued"]);
    expect(raced).toBeDefined();
    expect(first.refreshToken).not.toBe(raced!.refreshToken);
  });

  it("github mode: errors in HTTP 200, and a refresh kills the previous access token", async () => {
    const f = await useFakeProvider({ mode: "github" });
    const seed = f.issue();
    const set = await refreshGrant(endpointsFor(f), seed.refreshToken, opts);
    expect(f.isValid(seed.accessToken)).toBe(false);
    expect(f.isValid(set.accessToken)).toBe(true);
    const err = await expectOAuthError(refreshGrant(endpointsFor(f), seed.refreshToken, opts), {
      kind: "permanent",
      status: 200,
      error: "bad_refresh_token",
    });
    expect(err.description).toBe("The refresh token passed is incorrect or expired.");
    expect(f.replays).toBe(1);
  });

  it("revoke() kills a family, as a user revoking the app would", async () => {
    const f = await useFakeProvider();
    const seed = f.issue();
    f.revoke(seed.accessToken);
    expect(f.isValid(seed.accessToken)).toBe(false);
    await expectOAuthError(refreshGrant(endpointsFor(f), seed.refreshToken, opts), { kind: "permanent", status: 400, error: "invalid_grant" });
    expect(f.replays).toBe(0);
  });

  it("faults are consumed in order and do not consume the refresh token", async () => {
    const f = await useFakeProvider();
    const seed = f.issue();
    f.failNext(1, { status: 500 });
    f.failNext(1, { oauthError: "invalid_grant" });
    await expectOAuthError(refreshGrant(endpointsFor(f), seed.refreshToken, opts), { kind: "transient", status: 500 });
    await expectOAuthError(refreshGrant(endpointsFor(f), seed.refreshToken, opts), { kind: "permanent", status: 400, error: "invalid_grant" });
    await refreshGrant(endpointsFor(f), seed.refreshToken, opts);
    expect(f.tokenRequests).toBe(3);
    expect(f.refreshes).toBe(1);
    expect(f.tokenFaults).toEqual([]);
  });

  it("latency is settable at runtime", async () => {
    const f = await useFakeProvider();
    f.latencyMs = 200;
    const started = performance.now();
    await refreshGrant(endpointsFor(f), f.issue().refreshToken, opts);
    expect(performance.now() - started).toBeGreaterThanOrEqual(150);
  });

  it("the client secret can change at runtime (a rotated app secret)", async () => {
    const f = await useFakeProvider();
    const p = endpointsFor(f);
    f.clientSecret = "rotated";
    await expectOAuthError(refreshGrant(p, f.issue().refreshToken, opts), { kind: "client_credentials", status: 401, error: "invalid_client" });
  });

  it("validate faults apply to GET /user in order", async () => {
    const f = await useFakeProvider();
    const { accessToken } = f.issue();
    f.failValidateNext(1, { status: 403, headers: { "x-ratelimit-remaining": "0" } });
    f.failValidateNext(1, { status: 401 });
    expect((await validateToken(f.validateUrl, accessToken, opts)).outcome).toBe("rate_limited");
    expect((await validateToken(f.validateUrl, accessToken, opts)).outcome).toBe("invalid");
    expect((await validateToken(f.validateUrl, accessToken, opts)).outcome).toBe("valid");
    expect(f.validateRequests).toBe(3);
  });

  it("close() does not wait for hung requests", async () => {
    const f = await useFakeProvider();
    f.failNext(1, { hangMs: 60_000 });
    const pending = refreshGrant(endpointsFor(f), f.issue().refreshToken, { timeoutMs: 30_000 }).catch((e: unknown) => e);
    await new Promise((r) => setTimeout(r, 50));
    const started = performance.now();
    await f.close();
    expect(performance.now() - started).toBeLessThan(1000);
    expect(await pending).toMatchObject({ kind: "transient" });
  });
});
