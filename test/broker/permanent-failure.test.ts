/**
 * docs/design.md §3 invariant 5: re-read before caching a failure. A permanent
 * refresh error is cached (refresh token cleared to NULL, reason stored) only
 * when no concurrent caller won; a winner's token is returned instead, and a
 * cleared refresh token is never mistaken for a win.
 */
import { describe, expect, it } from "vitest";
import { Reason } from "../../src/errors/index.js";
import type { TokenFault } from "../support/fake-provider.js";
import { brokerError, harness, key, stored, type Harness } from "./harness.js";

const MIN_VALID = 60_000;

function rawRefreshColumns(h: Harness, userId: string): { refresh_token: unknown; refresh_token_digest: unknown; failure_reason: unknown } {
  return h
    .raw()
    .prepare("SELECT refresh_token, refresh_token_digest, failure_reason FROM links WHERE provider_id = ? AND user_id = ?")
    .get("fake", userId) as { refresh_token: unknown; refresh_token_digest: unknown; failure_reason: unknown };
}

describe("a permanent refresh error is cached and fails fast (invariant 5)", () => {
  it("github bad_refresh_token in an HTTP 200: REAUTH_REQUIRED, refresh token NULL, later calls never reach the provider", async () => {
    const h = await harness({ fake: { mode: "github" } });
    const k = key("alice");
    const { record: seeded, tokens } = await h.seed(k, { accessTtlSec: 5 });
    h.fake.revoke(tokens.refreshToken); // the user revoked the app at GitHub

    const err = await brokerError(h.engine.obtain(k, MIN_VALID), Reason.REAUTH_REQUIRED);
    expect(err.detail.failureReason).toContain("bad_refresh_token");
    expect(err.detail.failedAt).toBeTypeOf("number");
    expect(h.fake.tokenRequests).toBe(1);
    expect(h.fake.rejections).toBe(1);

    const rec = await stored(h, k);
    expect(rec.refreshToken).toBeNull();
    expect(rec.refreshFailure?.reason).toContain("bad_refresh_token");
    expect(rec.refreshFailure?.failedAt).toBe(err.detail.failedAt);
    expect(rec.version).toBe(seeded.version + 1);
    expect(await h.store.readLease(k)).toBeNull();
    // NULL in the database, not an encrypted empty string.
    const raw = rawRefreshColumns(h, "alice");
    expect(raw.refresh_token).toBeNull();
    expect(raw.refresh_token_digest).toBeNull();
    expect(raw.failure_reason).not.toBeNull();

    // Fail fast, concurrently and repeatedly, with the cached reason.
    const later = await Promise.all(Array.from({ length: 10 }, () => brokerError(h.engine.obtain(k, MIN_VALID), Reason.REAUTH_REQUIRED)));
    for (const e of later) {
      expect(e.detail.failureReason).toBe(rec.refreshFailure!.reason);
      expect(e.detail.failedAt).toBe(rec.refreshFailure!.failedAt);
    }
    expect(h.fake.tokenRequests).toBe(1);
    expect((await stored(h, k)).version).toBe(rec.version);
    expect(h.engine.lockCount).toBe(0);
  });

  const permanent: Array<[string, "standard" | "github", TokenFault]> = [
    ["failNext bad_refresh_token status 200", "standard", { oauthError: "bad_refresh_token", status: 200 }],
    ["invalid_grant 400", "standard", { oauthError: "invalid_grant" }],
    ["unsupported_grant_type 400", "standard", { oauthError: "unsupported_grant_type" }],
    ["HTTP 400 JSON without an error code", "standard", { status: 400, body: "{}" }],
    ["HTTP 401 JSON without an error code", "standard", { status: 401, body: '{"message":"nope"}' }],
    ["github bad_refresh_token", "github", { oauthError: "bad_refresh_token" }],
  ];
  it.each(permanent)("%s: cached as REAUTH_REQUIRED", async (_name, mode, fault) => {
    const h = await harness({ fake: { mode } });
    const k = key("bob");
    await h.seed(k, { accessTtlSec: 5 });
    h.fake.failNext(1, fault);
    await brokerError(h.engine.obtain(k, MIN_VALID), Reason.REAUTH_REQUIRED);
    expect(h.fake.tokenRequests).toBe(1); // permanent errors are not retried
    const rec = await stored(h, k);
    expect(rec.refreshToken).toBeNull();
    expect(rec.refreshFailure).not.toBeNull();
    await brokerError(h.engine.obtain(k, MIN_VALID), Reason.REAUTH_REQUIRED);
    expect(h.fake.tokenRequests).toBe(1);
  });

  it("20 concurrent callers on a dead refresh token: one provider request, all told REAUTH_REQUIRED", async () => {
    const h = await harness({ fake: { latencyMs: 30 } });
    const k = key("carol");
    const { tokens } = await h.seed(k, { accessTtlSec: 5 });
    h.fake.revoke(tokens.refreshToken);
    const errs = await Promise.all(Array.from({ length: 20 }, () => brokerError(h.engine.obtain(k, MIN_VALID), Reason.REAUTH_REQUIRED)));
    expect(h.fake.tokenRequests).toBe(1);
    for (const e of errs) expect(e.detail.failureReason).toContain("invalid_grant");
  });

  it("the stored reason is redacted (secrets echoed by the provider) and truncated to 400 bytes", async () => {
    const h = await harness();
    const k = key("dave");
    const { tokens } = await h.seed(k, { accessTtlSec: 5 });
    const description = `refresh_token ${tokens.refreshToken} rejected for client secret ${h.provider.clientSecret}; ${"é".repeat(600)}`;
    h.fake.failNext(1, { oauthError: "invalid_grant", description });
    const err = await brokerError(h.engine.obtain(k, MIN_VALID), Reason.REAUTH_REQUIRED);
    const rec = await stored(h, k);
    const reason = rec.refreshFailure!.reason;
    expect(reason.startsWith("invalid_grant")).toBe(true);
    expect(Buffer.byteLength(reason, "utf8")).toBeLessThanOrEqual(400);
    for (const text of [reason, err.detail.failureReason ?? "", err.message]) {
      expect(text).not.toContain(tokens.refreshToken);
      expect(text).not.toContain(h.provider.clientSecret);
    }
  });
});

describe("a concurrent winner is returned, not blamed (invariant 5)", () => {
  it.each([
    ["standard (invalid_grant)", "standard"],
    ["github (bad_refresh_token, HTTP 200)", "github"],
  ] as const)("%s: a winner committed via put while our request was in flight is returned; nothing is written", async (_name, mode) => {
    const h = await harness({ fake: { mode } });
    const k = key("erin");
    const { tokens: ours } = await h.seed(k, { accessTtlSec: 5 });
    // Our refresh token is already spent/dead at the provider by the time it answers.
    h.fake.revoke(ours.refreshToken);
    let winnerVersion = -1;
    const winner = h.fake.issue({ accessTtlSec: 3600 });
    h.secrets.add(winner.accessToken).add(winner.refreshToken);
    h.onRespond = async (ctx) => {
      expect(ctx.outcome).toBe("rejected");
      const w = await h.store.put(
        k,
        { accessToken: winner.accessToken, tokenType: "bearer", refreshToken: winner.refreshToken, expiresAt: winner.expiresAt, extra: {} },
        Date.now(),
      );
      winnerVersion = w.version;
    };

    const got = await h.engine.obtain(k, MIN_VALID);

    expect(got.accessToken).toBe(winner.accessToken);
    expect(got.refreshToken).toBe(winner.refreshToken);
    expect(h.fake.isValid(got.accessToken)).toBe(true);
    const rec = await stored(h, k);
    expect(rec.version).toBe(winnerVersion); // nothing written after the winner
    expect(rec.refreshToken).toBe(winner.refreshToken);
    expect(rec.accessToken).toBe(winner.accessToken);
    expect(rec.refreshFailure).toBeNull();
    expect(h.fake.tokenRequests).toBe(1);
    // And the link keeps working from the winner's tokens.
    const again = await h.engine.obtain(k, MIN_VALID);
    expect(again.accessToken).toBe(winner.accessToken);
    expect(h.fake.tokenRequests).toBe(1);
  });

  it("a winner committed by another process's CAS (its lease had lapsed) is returned; nothing is written", async () => {
    const h = await harness();
    const k = key("frank");
    const { record: seeded, tokens: ours } = await h.seed(k, { accessTtlSec: 5 });
    h.fake.revoke(ours.refreshToken);
    const winner = h.fake.issue({ accessTtlSec: 3600 });
    h.secrets.add(winner.accessToken).add(winner.refreshToken);
    let winnerVersion = -1;
    h.onRespond = async () => {
      const w = await h.store.commitRefresh(
        k,
        { version: seeded.version, refreshToken: ours.refreshToken },
        { accessToken: winner.accessToken, tokenType: "bearer", refreshToken: winner.refreshToken, expiresAt: winner.expiresAt },
        Date.now(),
      );
      winnerVersion = w!.version;
    };
    const got = await h.engine.obtain(k, MIN_VALID);
    expect(got.accessToken).toBe(winner.accessToken);
    const rec = await stored(h, k);
    expect(rec.version).toBe(winnerVersion);
    expect(rec.refreshToken).toBe(winner.refreshToken);
    expect(rec.refreshFailure).toBeNull();
  });

  it("a 'winner' whose access token is already expired is not taken, and its refresh token is not cleared", async () => {
    const h = await harness();
    const k = key("gina");
    const { tokens: ours } = await h.seed(k, { accessTtlSec: 5 });
    h.fake.revoke(ours.refreshToken);
    const other = h.fake.issue({ accessTtlSec: 3600 });
    h.secrets.add(other.accessToken).add(other.refreshToken);
    let otherVersion = -1;
    h.onRespond = async () => {
      const w = await h.store.put(
        k,
        { accessToken: other.accessToken, tokenType: "bearer", refreshToken: other.refreshToken, expiresAt: Date.now() - 1000, extra: {} },
        Date.now(),
      );
      otherVersion = w.version;
    };
    await brokerError(h.engine.obtain(k, MIN_VALID));
    const rec = await stored(h, k);
    // Our failure is about our refresh token; the other writer's is left alone.
    expect(rec.version).toBe(otherVersion);
    expect(rec.refreshToken).toBe(other.refreshToken);
    expect(rec.refreshFailure).toBeNull();
  });
});

describe("a cleared refresh token is not a win (invariant 5)", () => {
  it("another loser cleared the refresh token while our request was in flight: REAUTH_REQUIRED with its reason", async () => {
    const h = await harness();
    const k = key("henry");
    const { tokens: ours } = await h.seed(k, { accessTtlSec: 5 });
    h.fake.revoke(ours.refreshToken);
    let afterLoser = -1;
    h.onRespond = async () => {
      expect(await h.store.recordFailure(k, ours.refreshToken, "other loser", Date.now())).toBe(true);
      afterLoser = (await stored(h, k)).version;
    };
    const err = await brokerError(h.engine.obtain(k, MIN_VALID), Reason.REAUTH_REQUIRED);
    expect(err.detail.failureReason).toBe("other loser");
    const rec = await stored(h, k);
    expect(rec.version).toBe(afterLoser); // no second write
    expect(rec.refreshToken).toBeNull();
    expect(rec.refreshFailure?.reason).toBe("other loser");
  });

  it("a re-import without a refresh token during our failed request is not taken for a win", async () => {
    const h = await harness();
    const k = key("iris");
    const { tokens: ours } = await h.seed(k, { accessTtlSec: 5 });
    h.fake.revoke(ours.refreshToken);
    const imported = h.fake.issue({ accessTtlSec: 3600, withRefresh: false });
    h.secrets.add(imported.accessToken);
    let importedVersion = -1;
    h.onRespond = async () => {
      const w = await h.store.put(k, { accessToken: imported.accessToken, tokenType: "bearer", refreshToken: null, expiresAt: imported.expiresAt, extra: {} }, Date.now());
      importedVersion = w.version;
    };
    await brokerError(h.engine.obtain(k, MIN_VALID), Reason.REAUTH_REQUIRED);
    // The import is left exactly as written (no failure recorded over it).
    const rec = await stored(h, k);
    expect(rec.version).toBe(importedVersion);
    expect(rec.accessToken).toBe(imported.accessToken);
    expect(rec.refreshFailure).toBeNull();
  });

  it("another loser cleared the refresh token while the provider was issuing us new tokens: the answer heals the link (invariant 12)", async () => {
    const h = await harness();
    const k = key("jack");
    const { tokens: ours } = await h.seed(k, { accessTtlSec: 5 });
    let afterLoser = -1;
    h.onRespond = async (ctx) => {
      expect(ctx.outcome).toBe("issued");
      expect(await h.store.recordFailure(k, ours.refreshToken, "other loser", Date.now())).toBe(true);
      afterLoser = (await stored(h, k)).version;
    };
    // The failure was recorded for the very token our answer rotated: a rotated refresh token is never dropped.
    const got = await h.engine.obtain(k, MIN_VALID);
    expect(got.accessToken).toBe(h.issued[0]!.accessToken);
    const rec = await stored(h, k);
    expect(rec.version).toBe(afterLoser + 1);
    expect(rec.refreshToken).toBe(h.issued[0]!.refreshToken);
    expect(rec.refreshFailure).toBeNull();
    expect(h.logs.text).toContain("the link is healed");
    expect(h.fake.replays).toBe(0);
  });
});
