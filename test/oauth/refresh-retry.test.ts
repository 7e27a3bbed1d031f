import { afterEach, beforeEach, describe, expect, it } from "vitest";
import type { OAuthError } from "../../src/oauth/oauth-error.js";
import { refreshWithRetry, type RetryOptions } from "../../src/oauth/refresh-retry.js";
import { startFakeProvider, type FakeProvider } from "../support/fake-provider.js";
import { endpointsFor, expectOAuthError } from "./helpers.js";

// Short budgets: the suite shares two cores with other suites.
const fast: RetryOptions = { timeoutMs: 300, initialBackoffMs: 20, maxBackoffMs: 100, budgetMs: 2000 };

let fake: FakeProvider;
beforeEach(async () => {
  fake = await startFakeProvider();
});
afterEach(async () => {
  expect(fake.errors).toEqual([]);
  await fake.close();
});

function attempts(): { seen: Array<[number, string]>; onAttempt: (n: number, e: OAuthError) => void } {
  const seen: Array<[number, string]> = [];
  return { seen, onAttempt: (n, e) => seen.push([n, e.kind]) };
}

describe("refreshWithRetry", () => {
  it("retries transient failures and then succeeds", async () => {
    fake.failNext(1, { status: 500 });
    fake.failNext(1, { html502: true });
    fake.failNext(1, { reset: true });
    const a = attempts();
    const set = await refreshWithRetry(endpointsFor(fake), fake.issue().refreshToken, { ...fast, onAttempt: a.onAttempt });
    expect(fake.isValid(set.accessToken)).toBe(true);
    expect(fake.tokenRequests).toBe(4);
    expect(a.seen).toEqual([
      [1, "transient"],
      [2, "transient"],
      [3, "transient"],
    ]);
  });

  it("retries a request that hung past its timeout", async () => {
    fake.failNext(2, { hangMs: 3000 });
    const set = await refreshWithRetry(endpointsFor(fake), fake.issue().refreshToken, fast);
    expect(fake.isValid(set.accessToken)).toBe(true);
    expect(fake.tokenRequests).toBe(3);
  });

  it("gives up when the budget is spent and throws the last error with a retry hint", async () => {
    fake.failNext(1000, { status: 500 });
    const started = performance.now();
    const err = await expectOAuthError(
      refreshWithRetry(endpointsFor(fake), fake.issue().refreshToken, { ...fast, budgetMs: 400 }),
      { kind: "transient", status: 500 },
    );
    const elapsed = performance.now() - started;
    expect(fake.tokenRequests).toBeGreaterThanOrEqual(2);
    expect(elapsed).toBeLessThan(400 + 300 + 1500); // budget + one attempt + generous slack
    expect(err.retryAfterMs).toBeGreaterThan(0);
  });

  it("honours Retry-After: waits at least that long before the next attempt", async () => {
    fake.failNext(1, { status: 503, retryAfterSec: 1 });
    const started = performance.now();
    await refreshWithRetry(endpointsFor(fake), fake.issue().refreshToken, fast);
    expect(performance.now() - started).toBeGreaterThanOrEqual(900);
    expect(fake.tokenRequests).toBe(2);
  });

  it("does not wait out a Retry-After longer than the budget", async () => {
    fake.failNext(1, { status: 503, retryAfterSec: 5 });
    const started = performance.now();
    const err = await expectOAuthError(refreshWithRetry(endpointsFor(fake), fake.issue().refreshToken, fast), {
      kind: "transient",
      status: 503,
    });
    expect(err.retryAfterMs).toBe(5000);
    expect(fake.tokenRequests).toBe(1);
    expect(performance.now() - started).toBeLessThan(1500);
  });

  it("retries rate limiting and reports rate_limited when it persists", async () => {
    fake.failNext(1, { status: 429, retryAfterSec: 0 });
    await refreshWithRetry(endpointsFor(fake), fake.issue().refreshToken, fast);
    expect(fake.tokenRequests).toBe(2);

    fake.failNext(1000, { status: 429 });
    await expectOAuthError(refreshWithRetry(endpointsFor(fake), fake.issue().refreshToken, { ...fast, budgetMs: 300 }), {
      kind: "rate_limited",
      status: 429,
    });
  });

  it.each([
    ["permanent", { oauthError: "invalid_grant" }, "invalid_grant", 400],
    ["client_credentials", { oauthError: "invalid_client" }, "invalid_client", 401],
  ] as const)("throws %s errors at once, without retrying", async (kind, fault, error, status) => {
    fake.failNext(5, fault);
    const a = attempts();
    await expectOAuthError(refreshWithRetry(endpointsFor(fake), fake.issue().refreshToken, { ...fast, onAttempt: a.onAttempt }), {
      kind,
      status,
      error,
    });
    expect(fake.tokenRequests).toBe(1);
    expect(a.seen).toEqual([[1, kind]]);
  });

  it("stops waiting on shutdown", async () => {
    fake.failNext(1, { status: 503, retryAfterSec: 2 });
    const ac = new AbortController();
    setTimeout(() => ac.abort(), 100);
    const started = performance.now();
    await expectOAuthError(
      refreshWithRetry(endpointsFor(fake), fake.issue().refreshToken, { ...fast, budgetMs: 10_000, signal: ac.signal }),
      { kind: "transient", status: 503 },
    );
    expect(performance.now() - started).toBeLessThan(1500);
    expect(fake.tokenRequests).toBe(1);
  });

  it("uses an injected sleep, with waits growing and never below Retry-After", async () => {
    fake.failNext(3, { status: 500 });
    fake.failNext(1, { status: 503, retryAfterSec: 1 });
    const waits: number[] = [];
    await refreshWithRetry(endpointsFor(fake), fake.issue().refreshToken, {
      timeoutMs: 300,
      sleep: async (ms) => {
        waits.push(ms);
      },
    });
    expect(waits).toHaveLength(4);
    expect(waits[0]).toBeLessThanOrEqual(250);
    expect(waits[1]).toBeLessThanOrEqual(500);
    expect(waits[2]).toBeLessThanOrEqual(1000);
    expect(waits[3]).toBeGreaterThanOrEqual(1000);
  });
});
