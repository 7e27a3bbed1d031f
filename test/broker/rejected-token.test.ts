/**
 * The erase compare-and-swap (broker/rejected-token.ts; `tokenbroker
 * git-credential erase`): a caller reporting an access token a server refused
 * gets a refresh only while that exact token is still the stored one, through
 * the same lock, lease and compare-and-swap as every refresh (docs/design.md
 * §3 invariants 1 and 2).
 */
import { describe, expect, it } from "vitest";
import { harness, key, stored } from "./harness.js";

const MIN_VALID = 60_000;

describe("a refused access token (erase compare-and-swap)", () => {
  it("a fresh token reported refused is refreshed once, and the new one answered", async () => {
    const h = await harness({ fake: { latencyMs: 20 } });
    const k = key("alice");
    const { tokens: old } = await h.seed(k, { accessTtlSec: 3600 });

    // Without the report a fresh token is a cache hit.
    expect((await h.engine.obtain(k, MIN_VALID)).accessToken).toBe(old.accessToken);
    expect(h.fake.tokenRequests).toBe(0);

    const got = await h.engine.obtain(k, MIN_VALID, undefined, { rejectedAccessToken: old.accessToken });
    expect(h.fake.refreshes).toBe(1);
    expect(got.accessToken).toBe(h.issued[0]!.accessToken);
    expect(got.accessToken).not.toBe(old.accessToken);
    expect((await stored(h, k)).accessToken).toBe(got.accessToken);
  });

  it("20 callers reporting the same refused token at once: 1 refresh, all get the new token", async () => {
    const h = await harness({ fake: { latencyMs: 30 } });
    const k = key("bob");
    const { tokens: old } = await h.seed(k, { accessTtlSec: 3600 });
    const results = await Promise.all(Array.from({ length: 20 }, () => h.engine.obtain(k, MIN_VALID, undefined, { rejectedAccessToken: old.accessToken })));
    expect(h.fake.tokenRequests).toBe(1);
    expect(h.fake.refreshes).toBe(1);
    expect(h.fake.replays).toBe(0);
    expect(new Set(results.map((r) => r.accessToken))).toEqual(new Set([h.issued[0]!.accessToken]));
    expect(h.engine.lockCount).toBe(0);
  });

  it("20 callers in two processes reporting the same refused token: 1 refresh", async () => {
    const h = await harness({ fake: { latencyMs: 30 } });
    const other = h.secondEngine();
    const k = key("carol");
    const { tokens: old } = await h.seed(k, { accessTtlSec: 3600 });
    const results = await Promise.all(
      Array.from({ length: 20 }, (_, i) => (i % 2 === 0 ? h.engine : other).obtain(k, MIN_VALID, undefined, { rejectedAccessToken: old.accessToken })),
    );
    expect(h.fake.refreshes).toBe(1);
    expect(h.fake.replays).toBe(0);
    expect(new Set(results.map((r) => r.accessToken))).toEqual(new Set([h.issued[0]!.accessToken]));
  });

  it("reporting a token that is no longer the stored one refreshes nothing and answers the current token", async () => {
    const h = await harness();
    const k = key("dave");
    const { tokens: old } = await h.seed(k, { accessTtlSec: 3600 });
    const first = await h.engine.obtain(k, MIN_VALID, undefined, { rejectedAccessToken: old.accessToken });
    expect(h.fake.refreshes).toBe(1);
    // The same dead token again (a late job): the stored one is already another.
    const again = await h.engine.obtain(k, MIN_VALID, undefined, { rejectedAccessToken: old.accessToken });
    expect(again.accessToken).toBe(first.accessToken);
    // Another engine (process) too.
    const late = await h.secondEngine().obtain(k, MIN_VALID, undefined, { rejectedAccessToken: old.accessToken });
    expect(late.accessToken).toBe(first.accessToken);
    // A token this link never had.
    const stranger = await h.engine.obtain(k, MIN_VALID, undefined, { rejectedAccessToken: "never-issued" });
    expect(stranger.accessToken).toBe(first.accessToken);
    expect(h.fake.refreshes).toBe(1);
    expect(h.fake.tokenRequests).toBe(1);
  });

  it("an empty report is no report", async () => {
    const h = await harness();
    const k = key("erin");
    const { tokens: old } = await h.seed(k, { accessTtlSec: 3600 });
    expect((await h.engine.obtain(k, MIN_VALID, undefined, { rejectedAccessToken: "" })).accessToken).toBe(old.accessToken);
    expect(h.fake.tokenRequests).toBe(0);
  });

  it("a refused token whose lifetime is below min_valid_for is still refreshed (invariant 16 does not keep a dead token)", async () => {
    const h = await harness({ fake: { expiresInSec: 30 } });
    const k = key("fay");
    await h.seed(k, { accessTtlSec: 3600 });
    const short = await h.engine.obtain(k, 10_000, undefined, { rejectedAccessToken: (await stored(h, k)).accessToken });
    expect(h.fake.refreshes).toBe(1);
    // Asked plainly for 60 s: the provider's 30 s tokens cannot do, and no refresh is tried.
    await expect(h.engine.obtain(k, MIN_VALID)).rejects.toMatchObject({ reason: "MIN_VALIDITY_UNREACHABLE" });
    expect(h.fake.refreshes).toBe(1);
    // Reported refused: refreshed all the same (the answer still says the lifetime is too short).
    await expect(h.engine.obtain(k, MIN_VALID, undefined, { rejectedAccessToken: short.accessToken })).rejects.toMatchObject({ reason: "MIN_VALIDITY_UNREACHABLE" });
    expect(h.fake.refreshes).toBe(2);
    expect((await stored(h, k)).accessToken).not.toBe(short.accessToken);
  });
});
