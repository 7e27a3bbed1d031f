import { beforeEach, describe, expect, it } from "vitest";
import { validateToken, validationOutcome } from "../../src/oauth/validate.js";
import type { FakeProvider } from "../support/fake-provider.js";
import { useFakeProvider } from "../support/scoped-fakes.js";

const opts = { timeoutMs: 300 };

let fake: FakeProvider;
beforeEach(async () => {
  fake = await useFakeProvider();
});

describe("validateToken against the fake provider", () => {
  it("valid: 2xx for a live token", async () => {
    const { accessToken } = fake.issue();
    expect(await validateToken(fake.validateUrl, accessToken, opts)).toEqual({ outcome: "valid", status: 200 });
    expect(fake.validateRequests).toBe(1);
  });

  it("invalid: 401 for an unknown, expired or revoked token", async () => {
    expect(await validateToken(fake.validateUrl, "fake_at_unknown", opts)).toEqual({ outcome: "invalid", status: 401 });
    const expired = fake.issue({ accessTtlSec: 0 });
    expect((await validateToken(fake.validateUrl, expired.accessToken, opts)).outcome).toBe("invalid");
    const revoked = fake.issue();
    fake.revoke(revoked.refreshToken);
    expect((await validateToken(fake.validateUrl, revoked.accessToken, opts)).outcome).toBe("invalid");
  });

  it.each([
    ["X-RateLimit-Remaining: 0", { "x-ratelimit-remaining": "0", "x-ratelimit-reset": "1" }],
    ["RateLimit-Remaining: 0", { "ratelimit-remaining": "0" }],
    ["Retry-After", { "retry-after": "60" }],
  ])("rate_limited: 403 with %s", async (_label, headers) => {
    fake.failValidateNext(1, { status: 403, headers });
    const remaining = "retry-after" in headers ? {} : { rateLimitRemaining: 0 };
    expect(await validateToken(fake.validateUrl, fake.issue().accessToken, opts)).toEqual({ outcome: "rate_limited", status: 403, ...remaining });
  });

  it("rate_limited: 429", async () => {
    fake.failValidateNext(1, { status: 429 });
    expect(await validateToken(fake.validateUrl, fake.issue().accessToken, opts)).toEqual({ outcome: "rate_limited", status: 429 });
  });

  it("invalid: a plain 403 (revoked)", async () => {
    fake.failValidateNext(1, { status: 403, headers: { "x-ratelimit-remaining": "4999" } });
    expect(await validateToken(fake.validateUrl, fake.issue().accessToken, opts)).toEqual({ outcome: "invalid", status: 403, rateLimitRemaining: 4999 });
  });

  it("reports the rate limit's remaining requests from either header, and nothing for a value that is no count", async () => {
    const cases: Array<[Record<string, string>, number | undefined]> = [
      [{ "x-ratelimit-remaining": "17" }, 17],
      [{ "ratelimit-remaining": " 42 " }, 42],
      [{ "x-ratelimit-remaining": "lots" }, undefined],
      [{ "x-ratelimit-remaining": "-1" }, undefined],
      [{}, undefined],
    ];
    for (const [headers, expected] of cases) {
      fake.failValidateNext(1, { status: 200, headers, body: "{}" });
      expect((await validateToken(fake.validateUrl, fake.issue().accessToken, opts)).rateLimitRemaining).toBe(expected);
    }
  });

  it("unknown: 5xx", async () => {
    fake.failValidateNext(1, { status: 502 });
    expect(await validateToken(fake.validateUrl, fake.issue().accessToken, opts)).toEqual({ outcome: "unknown", status: 502 });
  });

  it("unknown: timeout", async () => {
    fake.failValidateNext(1, { status: 200, hangMs: 3000 });
    expect(await validateToken(fake.validateUrl, fake.issue().accessToken, opts)).toEqual({ outcome: "unknown" });
  });

  it("unknown: connection refused", async () => {
    const url = fake.validateUrl;
    await fake.close();
    expect(await validateToken(url, "t", opts)).toEqual({ outcome: "unknown" });
  });

  it("unknown, and nothing sent, for plain http off loopback", async () => {
    expect(await validateToken("http://api.example.com/user", "t", opts)).toEqual({ outcome: "unknown" });
  });
});

describe("validationOutcome table", () => {
  const h = (o: Record<string, string> = {}) => new Headers(o);
  it.each([
    [200, h(), "valid"],
    [204, h(), "valid"],
    [401, h(), "invalid"],
    [403, h(), "invalid"],
    [403, h({ "retry-after": "1" }), "rate_limited"],
    [403, h({ "x-ratelimit-remaining": "0" }), "rate_limited"],
    [403, h({ "ratelimit-remaining": "0" }), "rate_limited"],
    [403, h({ "x-ratelimit-remaining": "10" }), "invalid"],
    [429, h(), "rate_limited"],
    [404, h(), "unknown"],
    [302, h(), "unknown"],
    [500, h(), "unknown"],
    [503, h({ "retry-after": "1" }), "unknown"],
  ] as const)("%i %o → %s", (status, headers, outcome) => {
    expect(validationOutcome(status, headers)).toBe(outcome);
  });
});
