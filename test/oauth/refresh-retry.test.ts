import { beforeEach, describe, expect, it } from "vitest";
import { OAuthError } from "../../src/oauth/oauth-error.js";
import { isRetryable, refreshWithRetry, type RetryOptions } from "../../src/oauth/refresh-retry.js";
import type { FakeProvider } from "../support/fake-provider.js";
import { useFakeProvider } from "../support/scoped-fakes.js";
import { endpointsFor, expectOAuthError } from "./helpers.js";

// Short budgets: the suite shares two cores with other suites.
const fast: RetryOptions = { timeoutMs: 300, initialBackoffMs: 20, maxBackoffMs: 100, budgetMs: 2000 };

let fake: FakeProvider;
beforeEach(async () => {
  fake = await useFakeProvider();
});

function attempts(): { seen: Array<[number, string]>; onAttempt: (n: number, e: OAuthError) => void } {
  const seen: Array<[number, string]> = [];
  return { seen, onAttempt: (n, e) => seen.push([n, e.kind]) };
}

describe("refreshWithRetry", () => {
  it("retries transient failures and then succeeds", async () => {
    fake.failNext(1, { status: 500 });
    fake.failNext(1, { html502: true });
    fake.failNext(1, { status: 429 });
    const a = attempts();
    const set = await refreshWithRetry(endpointsFor(fake), fake.issue().refreshToken, { ...fast, onAttempt: a.onAttempt });
    expect(fake.isValid(set.accessToken)).toBe(true);
    expect(fake.tokenRequests).toBe(4);
    expect(a.seen).toEqual([
      [1, "transient"],
      [2, "transient"],
      [3, "rate_limited"],
    ]);
  });

  // docs/design.md §3 invariants 7 and 11: the request was written; the provider may have rotated.
  it.each<[string, { hangMs: number } | { reset: true }]>([
    ["hung past its timeout", { hangMs: 3000 }],
    ["was reset after it was written", { reset: true }],
  ])("never sends again a request that %s: its outcome is unknown", async (_what, fault) => {
    fake.failNext(2, fault);
    const err = await expectOAuthError(refreshWithRetry(endpointsFor(fake), fake.issue().refreshToken, fast), { kind: "transient" });
    expect(err.sent).toBe("unknown");
    expect(fake.tokenRequests).toBe(1);
  });

  it("awaits afterAnswer before each retry of a known refusal, and stops when it throws", async () => {
    fake.failNext(2, { status: 503 });
    const seen: number[] = [];
    const set = await refreshWithRetry(endpointsFor(fake), fake.issue().refreshToken, { ...fast, afterAnswer: async (e) => void seen.push(e.status ?? 0) });
    expect(fake.isValid(set.accessToken)).toBe(true);
    expect(seen).toEqual([503, 503]);
    fake.failNext(2, { status: 503 });
    const stop = new Error("lease lost");
    await expect(refreshWithRetry(endpointsFor(fake), fake.issue().refreshToken, { ...fast, afterAnswer: () => Promise.reject(stop) })).rejects.toBe(stop);
    expect(fake.tokenRequests).toBe(4);
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

  it("with an injected random and sleep the waits are exact: full jitter under a doubling, capped ceiling", async () => {
    fake.failNext(4, { status: 500 });
    const waits: number[] = [];
    await refreshWithRetry(endpointsFor(fake), fake.issue().refreshToken, {
      timeoutMs: 300,
      initialBackoffMs: 100,
      maxBackoffMs: 400,
      random: () => 0.5,
      sleep: async (ms) => {
        waits.push(ms);
      },
    });
    expect(waits).toEqual([50, 100, 200, 200]);
  });

  it("the budget runs on the injected clock", async () => {
    fake.failNext(1000, { status: 500 });
    let clock = 1_000_000;
    const waits: number[] = [];
    const err = await expectOAuthError(
      refreshWithRetry(endpointsFor(fake), fake.issue().refreshToken, {
        timeoutMs: 300,
        initialBackoffMs: 400,
        maxBackoffMs: 400,
        budgetMs: 1000,
        random: () => 0.75,
        now: () => clock,
        sleep: async (ms) => {
          waits.push(ms);
          clock += ms;
        },
      }),
      { kind: "transient", status: 500 },
    );
    // Three waits of 300 fit in 1000; a fourth would end past the budget.
    expect(waits).toEqual([300, 300, 300]);
    expect(fake.tokenRequests).toBe(4);
    expect(err.retryAfterMs).toBe(400);
  });

  it("an HTTP-date Retry-After is read on the injected clock", async () => {
    fake.failNext(1, { status: 503, headers: { "retry-after": "Wed, 01 Jan 2025 00:00:02 GMT" } });
    const waits: number[] = [];
    let clock = Date.parse("2025-01-01T00:00:00Z");
    await refreshWithRetry(endpointsFor(fake), fake.issue().refreshToken, {
      timeoutMs: 300,
      random: () => 0,
      now: () => clock,
      sleep: async (ms) => {
        waits.push(ms);
        clock += ms;
      },
    });
    expect(waits).toEqual([2000]);
  });
});

describe("refreshWithRetry: beforeAttempt", () => {
  it("is awaited before every request, the first included", async () => {
    fake.failNext(2, { status: 500 });
    const seen: string[] = [];
    await refreshWithRetry(endpointsFor(fake), fake.issue().refreshToken, {
      ...fast,
      beforeAttempt: async (n) => {
        seen.push(`before ${n} with ${fake.tokenRequests} sent`);
        await new Promise((r) => setTimeout(r, 20));
        seen.push(`confirmed ${n} with ${fake.tokenRequests} sent`);
      },
    });
    expect(seen).toEqual([
      "before 1 with 0 sent",
      "confirmed 1 with 0 sent",
      "before 2 with 1 sent",
      "confirmed 2 with 1 sent",
      "before 3 with 2 sent",
      "confirmed 3 with 2 sent",
    ]);
    expect(fake.tokenRequests).toBe(3);
  });

  it("throwing before the first attempt sends nothing and rethrows that very error", async () => {
    const lost = new Error("lease lost");
    const a = attempts();
    const thrown = await refreshWithRetry(endpointsFor(fake), fake.issue().refreshToken, {
      ...fast,
      onAttempt: a.onAttempt,
      beforeAttempt: async () => {
        throw lost;
      },
    }).catch((e: unknown) => e);
    expect(thrown).toBe(lost);
    expect(fake.tokenRequests).toBe(0);
    expect(a.seen).toEqual([]);
  });

  it("throwing before a retry stops the loop at once", async () => {
    fake.failNext(5, { status: 503 });
    const lost = new Error("lease lost");
    const waits: number[] = [];
    const thrown = await refreshWithRetry(endpointsFor(fake), fake.issue().refreshToken, {
      ...fast,
      sleep: async (ms) => {
        waits.push(ms);
      },
      beforeAttempt: async (n) => {
        if (n === 2) throw lost;
      },
    }).catch((e: unknown) => e);
    expect(thrown).toBe(lost);
    expect(fake.tokenRequests).toBe(1);
    expect(waits).toHaveLength(1);
  });
});

describe("refreshWithRetry: a 2xx is never retried", () => {
  it("not even an OAuth error in a 2xx that reads as transient", async () => {
    fake.failNext(5, { oauthError: "temporarily_unavailable", status: 200 });
    const err = await expectOAuthError(refreshWithRetry(endpointsFor(fake), fake.issue().refreshToken, fast), {
      kind: "transient",
      status: 200,
      error: "temporarily_unavailable",
    });
    expect(err.sent).toBe("answered");
    expect(fake.tokenRequests).toBe(1);
  });

  it.each<[string, ConstructorParameters<typeof OAuthError>[0], boolean]>([
    ["a transient 503", { kind: "transient", sent: "answered", message: "m", status: 503 }, true],
    ["a timeout", { kind: "transient", sent: "unknown", message: "m" }, false],
    ["a reset after writing", { kind: "transient", sent: "unknown", message: "m" }, false],
    ["a refused connection", { kind: "transient", sent: "not_sent", message: "m" }, true],
    ["a 429", { kind: "rate_limited", sent: "answered", message: "m", status: 429 }, true],
    ["a transient 200", { kind: "transient", sent: "answered", message: "m", status: 200 }, false],
    ["a rate-limited 204", { kind: "rate_limited", sent: "answered", message: "m", status: 204 }, false],
    ["an unusable answer", { kind: "unusable_answer", sent: "unknown", message: "m", status: 200 }, false],
    ["a permanent 400", { kind: "permanent", sent: "answered", message: "m", status: 400 }, false],
    ["a client-credential 401", { kind: "client_credentials", sent: "answered", message: "m", status: 401 }, false],
  ])("isRetryable(%s) is %s", (_what, init, expected) => {
    expect(isRetryable(new OAuthError(init))).toBe(expected);
  });
});
