/**
 * docs/design.md §3 invariant 10 at the engine: a 2xx is never retried, and
 * a new refresh token in it is committed even when the answer has no usable
 * access token.
 */
import { describe, expect, it } from "vitest";
import { Reason } from "../../src/errors/index.js";
import { brokerError, harness, key, stored } from "./harness.js";

const MIN_VALID = 60_000;

describe("a 2xx the engine cannot hand out", () => {
  it("without tokens: one request, never sent again — the link is interrupted, then failed with a reason that says the token may have rotated", async () => {
    const h = await harness({ settings: { budgetMs: 2000 } });
    const k = key("alice");
    await h.seed(k);
    h.fake.failNext(5, { status: 200, body: '{"hello":"world"}' });

    // The answer may have rotated the token: the caller hears that the refresh was interrupted.
    await brokerError(h.engine.obtain(k, MIN_VALID), Reason.REFRESH_INTERRUPTED);
    expect(h.fake.tokenRequests).toBe(1);
    // With no interrupted window (the harness's), the next call fails the link without sending.
    const err = await brokerError(h.engine.obtain(k, MIN_VALID), Reason.REAUTH_REQUIRED);
    expect(err.detail.failureReason).toMatch(/interrupted when its answer was lost.*may have rotated the refresh token, so it was not sent again/);
    expect(h.fake.tokenRequests).toBe(1);
    const rec = await stored(h, k);
    expect(rec.refreshToken).toBeNull();
    expect(rec.refreshFailure?.reason).toBe(err.detail.failureReason);
    // Later calls fail fast: the provider is not asked again.
    await brokerError(h.engine.obtain(k, MIN_VALID), Reason.REAUTH_REQUIRED);
    expect(h.fake.tokenRequests).toBe(1);
  });

  it("without tokens, for a provider with a reuse grace window: PROVIDER_UNAVAILABLE, the link untouched, sent again later", async () => {
    const h = await harness({ settings: { budgetMs: 2000 }, provider: { rotationGraceMs: 60_000 } });
    const k = key("amy");
    const { record: seeded } = await h.seed(k);
    h.fake.failNext(1, { status: 200, body: '{"hello":"world"}' });

    await brokerError(h.engine.obtain(k, MIN_VALID), Reason.PROVIDER_UNAVAILABLE);
    expect(h.fake.tokenRequests).toBe(1);
    const rec = await stored(h, k);
    expect({ version: rec.version, refreshToken: rec.refreshToken, failure: rec.refreshFailure }).toEqual({ version: seeded.version, refreshToken: seeded.refreshToken, failure: null });
  });

  it("with a new refresh token but no access token: the refresh token is committed, the caller gets an error, the next call refreshes with it", async () => {
    let odd = true;
    const h = await harness({ fake: { extra: () => (odd ? { access_token: "", expires_in: "abc" } : {}) } });
    const k = key("bob");
    const { tokens: seed } = await h.seed(k);

    await brokerError(h.engine.obtain(k, MIN_VALID), Reason.PROVIDER_UNAVAILABLE);
    expect(h.fake.tokenRequests).toBe(1);
    const rotated = h.issued[0]!.refreshToken;
    expect(rotated).not.toBe(seed.refreshToken);
    expect((await stored(h, k)).refreshToken).toBe(rotated);
    const notes = h.logs.lines().find((l) => l.msg === "token response normalised");
    expect(notes?.notes).toEqual(["access_token empty; no usable access token", "expires_in not a number; used 3600 s"]);

    odd = false;
    const got = await h.engine.obtain(k, MIN_VALID);
    expect(h.fake.isValid(got.accessToken)).toBe(true);
    expect(h.fake.replays).toBe(0);
    expect(h.fake.tokenRequests).toBe(2);
  });
});
