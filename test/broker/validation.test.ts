/**
 * docs/design.md §3 invariant 8: validate after a refresh only, rate-limit aware;
 * and invariant 3: a failed validation never discards the token that was
 * just persisted.
 */
import { describe, expect, it } from "vitest";
import { Reason } from "../../src/errors/index.js";
import type { ValidateFault } from "../support/fake-provider.js";
import { brokerError, harness, key, stored } from "./harness.js";

const MIN_VALID = 60_000;

async function validating(fakeMode: "standard" | "github" = "standard") {
  return harness({ fake: { mode: fakeMode }, settings: { validate: true } });
}

describe("validation after a refresh (invariant 8)", () => {
  it("validates once per refresh, never on cache hits", async () => {
    const h = await validating();
    const k = key("alice");
    await h.seed(k, { accessTtlSec: 5 });
    const results = await Promise.all(Array.from({ length: 20 }, () => h.engine.obtain(k, MIN_VALID)));
    expect(h.fake.refreshes).toBe(1);
    expect(h.fake.validateRequests).toBe(1);
    for (let i = 0; i < 10; i++) await h.engine.obtain(k, MIN_VALID);
    expect(h.fake.validateRequests).toBe(1);
    expect(new Set(results.map((r) => r.accessToken)).size).toBe(1);
  });

  it("does not validate when settings.validate is off or the provider has no validate URL", async () => {
    const off = await harness({ settings: { validate: false } });
    await off.seed(key("a"), { accessTtlSec: 5 });
    await off.engine.obtain(key("a"), MIN_VALID);
    expect(off.fake.refreshes).toBe(1);
    expect(off.fake.validateRequests).toBe(0);

    const noUrl = await harness({ settings: { validate: true }, provider: { validateUrl: undefined } });
    await noUrl.seed(key("b"), { accessTtlSec: 5 });
    await noUrl.engine.obtain(key("b"), MIN_VALID);
    expect(noUrl.fake.refreshes).toBe(1);
    expect(noUrl.fake.validateRequests).toBe(0);
  });

  const stillValid: Array<[string, ValidateFault]> = [
    ["403 with X-RateLimit-Remaining: 0", { status: 403, headers: { "x-ratelimit-remaining": "0", "x-ratelimit-reset": "9999999999" } }],
    ["403 with RateLimit-Remaining: 0", { status: 403, headers: { "ratelimit-remaining": "0" } }],
    ["403 with Retry-After", { status: 403, headers: { "retry-after": "60" } }],
    ["429", { status: 429, headers: { "retry-after": "5" } }],
    ["500 (unknown, not a verdict)", { status: 500 }],
  ];
  it.each(stillValid)("%s: the refreshed token is handed out", async (_name, fault) => {
    const h = await validating("github");
    const k = key("bob");
    const { record: seeded } = await h.seed(k, { accessTtlSec: 5 });
    h.fake.failValidateNext(1, fault);
    const got = await h.engine.obtain(k, MIN_VALID);
    expect(h.fake.validateRequests).toBe(1);
    expect(got.accessToken).toBe(h.issued[0]!.accessToken);
    const rec = await stored(h, k);
    expect(rec.version).toBe(seeded.version + 1);
    expect(rec.refreshToken).toBe(h.issued[0]!.refreshToken);
    expect(rec.refreshFailure).toBeNull();
  });

  it("a validation that hangs past the timeout counts as unknown: the token is handed out", async () => {
    const h = await harness({ settings: { validate: true, timeoutMs: 300 } });
    const k = key("hang");
    await h.seed(k, { accessTtlSec: 5 });
    h.fake.failValidateNext(1, { status: 200, hangMs: 3000 });
    const got = await h.engine.obtain(k, MIN_VALID);
    expect(got.accessToken).toBe(h.issued[0]!.accessToken);
  });

  const invalid: Array<[string, ValidateFault]> = [
    ["plain 403", { status: 403, body: '{"message":"Resource not accessible by integration"}' }],
    ["401", { status: 401, body: '{"message":"Bad credentials"}' }],
  ];
  it.each(invalid)("%s: REAUTH_REQUIRED, yet the rotated token is persisted and nothing is lost", async (_name, fault) => {
    const h = await validating();
    const k = key("carol");
    const { record: seeded, tokens: old } = await h.seed(k, { accessTtlSec: 5 });
    h.fake.failValidateNext(1, fault);
    const err = await brokerError(h.engine.obtain(k, MIN_VALID), Reason.REAUTH_REQUIRED);
    expect(err.detail.failureReason).toContain(String(fault.status));
    expect(h.fake.refreshes).toBe(1);
    expect(h.fake.validateRequests).toBe(1);

    const [issued] = h.issued;
    const rec = await stored(h, k);
    expect(rec.version).toBe(seeded.version + 1);
    expect(rec.accessToken).toBe(issued!.accessToken);
    expect(rec.refreshToken).toBe(issued!.refreshToken);
    expect(rec.refreshToken).not.toBe(old.refreshToken);
    // The rotated refresh token is the one the provider still honours: the
    // link is not broken by a validation verdict.
    expect(rec.refreshFailure).toBeNull();
    expect(h.fake.replays).toBe(0);
    expect(h.fake.isValid(issued!.accessToken)).toBe(true);
  });

  it("warns about rate-limited validation at most once a minute per provider", async () => {
    const h = await validating();
    const limited: ValidateFault = { status: 403, headers: { "x-ratelimit-remaining": "0" } };
    for (const u of ["w1", "w2", "w3"]) {
      await h.seed(key(u), { accessTtlSec: 5 });
      h.fake.failValidateNext(1, limited);
      await h.engine.obtain(key(u), MIN_VALID);
    }
    expect(h.fake.validateRequests).toBe(3);
    const warnings = h.logs.lines().filter((l) => typeof l.msg === "string" && l.msg.includes("validation rate limited"));
    expect(warnings).toHaveLength(1);
  });
});
