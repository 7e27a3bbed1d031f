import { describe, expect, it } from "vitest";
import { classify, type ClassifyInput } from "../../src/oauth/classify.js";
import type { OAuthErrorKind } from "../../src/oauth/oauth-error.js";
import { parseRetryAfter, retryDelayMs } from "../../src/oauth/rate-limit-headers.js";

const NOW = Date.parse("2025-01-01T00:00:00Z");
const h = (o: Record<string, string> = {}) => new Headers(o);

describe("classify", () => {
  const table: Array<[string, ClassifyInput, OAuthErrorKind, number?]> = [
    // network-level
    ["network error", { networkError: true }, "transient"],
    ["network error beats everything", { networkError: true, httpStatus: 400, oauthError: "invalid_grant" }, "transient"],
    // permanent
    ["GitHub bad_refresh_token in HTTP 200", { httpStatus: 200, oauthError: "bad_refresh_token" }, "permanent"],
    ["invalid_grant", { httpStatus: 400, oauthError: "invalid_grant" }, "permanent"],
    ["invalid_grant on 401", { httpStatus: 401, oauthError: "invalid_grant" }, "permanent"],
    ["unsupported_grant_type", { httpStatus: 400, oauthError: "unsupported_grant_type" }, "permanent"],
    ["400 without code", { httpStatus: 400 }, "permanent"],
    ["401 without code", { httpStatus: 401 }, "permanent"],
    ["400 with another code", { httpStatus: 400, oauthError: "invalid_request" }, "permanent"],
    ["200 with an unknown code (GitHub style)", { httpStatus: 200, oauthError: "bad_verification_code" }, "permanent"],
    // client credentials win over the status
    ["401 invalid_client", { httpStatus: 401, oauthError: "invalid_client" }, "client_credentials"],
    ["400 invalid_client", { httpStatus: 400, oauthError: "invalid_client" }, "client_credentials"],
    ["403 invalid_client", { httpStatus: 403, oauthError: "invalid_client" }, "client_credentials"],
    ["GitHub incorrect_client_credentials in 200", { httpStatus: 200, oauthError: "incorrect_client_credentials" }, "client_credentials"],
    ["unauthorized_client", { httpStatus: 400, oauthError: "unauthorized_client" }, "client_credentials"],
    // server state beats body codes
    ["503 with invalid_grant", { httpStatus: 503, oauthError: "invalid_grant" }, "transient"],
    ["500 with invalid_client", { httpStatus: 500, oauthError: "invalid_client" }, "transient"],
    ["429 with invalid_grant", { httpStatus: 429, oauthError: "invalid_grant" }, "rate_limited"],
    // transient
    ["500", { httpStatus: 500 }, "transient"],
    ["502", { httpStatus: 502 }, "transient"],
    ["503 with Retry-After", { httpStatus: 503, headers: h({ "retry-after": "3" }) }, "transient", 3000],
    ["504", { httpStatus: 504 }, "transient"],
    ["HTML 502", { httpStatus: 502, nonJson: true }, "transient"],
    ["HTML 400 (a proxy)", { httpStatus: 400, nonJson: true }, "transient"],
    ["plain 403", { httpStatus: 403 }, "transient"],
    ["403 with quota left", { httpStatus: 403, headers: h({ "x-ratelimit-remaining": "12" }) }, "transient"],
    ["temporarily_unavailable", { httpStatus: 400, oauthError: "temporarily_unavailable" }, "transient"],
    ["server_error", { httpStatus: 400, oauthError: "server_error" }, "transient"],
    ["404 (misrouted)", { httpStatus: 404 }, "transient"],
    ["302", { httpStatus: 302 }, "transient"],
    ["nothing known", {}, "transient"],
    // a 2xx without an error code may have rotated the refresh token: never transient
    ["200 without code (no usable tokens)", { httpStatus: 200 }, "unusable_answer"],
    ["HTML 200", { httpStatus: 200, nonJson: true }, "unusable_answer"],
    ["201 without code", { httpStatus: 201 }, "unusable_answer"],
    ["200 whose body was cut off or over the cap", { httpStatus: 200, networkError: true }, "unusable_answer"],
    ["200 with Retry-After carries no hint", { httpStatus: 200, headers: h({ "retry-after": "5" }) }, "unusable_answer"],
    ["299 without code", { httpStatus: 299 }, "unusable_answer"],
    ["300 is not a 2xx", { httpStatus: 300 }, "transient"],
    ["200 with temporarily_unavailable", { httpStatus: 200, oauthError: "temporarily_unavailable" }, "transient"],
    // rate limited
    ["429", { httpStatus: 429 }, "rate_limited"],
    ["429 with Retry-After seconds", { httpStatus: 429, headers: h({ "retry-after": "120" }) }, "rate_limited", 120_000],
    ["429 with Retry-After date", { httpStatus: 429, headers: h({ "retry-after": "Wed, 01 Jan 2025 00:00:30 GMT" }) }, "rate_limited", 30_000],
    ["403 with Retry-After", { httpStatus: 403, headers: h({ "retry-after": "60" }) }, "rate_limited", 60_000],
    [
      "403 with X-RateLimit-Remaining: 0 and a reset time",
      { httpStatus: 403, headers: h({ "x-ratelimit-remaining": "0", "x-ratelimit-reset": String(NOW / 1000 + 90) }) },
      "rate_limited",
      90_000,
    ],
    ["403 with RateLimit-Remaining: 0", { httpStatus: 403, headers: h({ "ratelimit-remaining": "0", "ratelimit-reset": "5" }) }, "rate_limited", 5000],
    ["slow_down", { httpStatus: 400, oauthError: "slow_down" }, "rate_limited"],
    // permanent answers carry no retry hint even with the header
    ["invalid_grant with Retry-After", { httpStatus: 400, oauthError: "invalid_grant", headers: h({ "retry-after": "5" }) }, "permanent"],
  ];

  it.each(table)("%s", (_name, input, kind, retryAfterMs) => {
    const c = classify({ ...input, nowMs: NOW });
    expect(c.kind).toBe(kind);
    expect(c.retryAfterMs).toBe(retryAfterMs);
  });

  it("is pure: same input, same answer", () => {
    const input: ClassifyInput = { httpStatus: 429, headers: h({ "retry-after": "Wed, 01 Jan 2025 00:01:00 GMT" }), nowMs: NOW };
    expect(classify(input)).toEqual(classify(input));
  });
});

describe("parseRetryAfter", () => {
  it.each([
    ["120", 120_000],
    [" 3 ", 3000],
    ["0", 0],
    ["Wed, 01 Jan 2025 00:00:10 GMT", 10_000],
    ["Tue, 31 Dec 2024 23:00:00 GMT", 0], // in the past
    ["-1", undefined],
    ["1.5", undefined],
    ["soon", undefined],
    ["", undefined],
  ])("%j → %s", (value, ms) => {
    expect(parseRetryAfter(value, NOW)).toBe(ms);
  });
  it("absent → undefined", () => {
    expect(parseRetryAfter(null, NOW)).toBeUndefined();
  });
});

describe("retryDelayMs", () => {
  it("prefers Retry-After over quota reset headers", () => {
    expect(retryDelayMs(h({ "retry-after": "2", "x-ratelimit-remaining": "0", "x-ratelimit-reset": "99999999999" }), NOW)).toBe(2000);
  });
  it("ignores reset headers while quota remains", () => {
    expect(retryDelayMs(h({ "x-ratelimit-remaining": "3", "x-ratelimit-reset": String(NOW / 1000 + 90) }), NOW)).toBeUndefined();
  });
});
