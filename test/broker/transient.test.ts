/**
 * docs/design.md §3 invariant 7: failures whose outcome is known not to have
 * rotated (the provider answered with an error) are retried within the budget
 * and never cached as permanent; the link is left exactly as it was. And
 * invariant 11: a request that was written and whose answer was lost (a hang
 * past the answer timeout, a reset) is never sent again.
 */
import { describe, expect, it } from "vitest";
import { Reason } from "../../src/errors/index.js";
import type { TokenFault } from "../support/fake-provider.js";
import { brokerError, harness, key, stored, type Harness } from "./harness.js";

const MIN_VALID = 60_000;
/**
 * The budget tables skip the engine's backoffs (none is longer than a 1 s
 * Retry-After) but never to a lease heartbeat (a third of the 15 s lease).
 */
const LONGEST_BACKOFF_MS = 1000;

/** Faults the fake applies to every request until cleared. */
function failAlways(h: Harness, fault: TokenFault): void {
  h.fake.failNext(500, fault);
}

async function expectUntouched(h: Harness, k: ReturnType<typeof key>, seeded: { version: number; refreshToken: string | null; accessToken: string }): Promise<void> {
  const rec = await stored(h, k);
  expect(rec.version).toBe(seeded.version);
  expect(rec.refreshToken).toBe(seeded.refreshToken);
  expect(rec.accessToken).toBe(seeded.accessToken);
  expect(rec.refreshFailure).toBeNull();
  expect(await h.store.readLease(k)).toBeNull();
  expect(rec.lastRefreshedAt).toBeNull();
}

describe("transient provider failures (invariant 7)", () => {
  const transient: Array<[string, TokenFault]> = [
    ["HTTP 500", { status: 500 }],
    ["HTTP 503 with Retry-After", { status: 503, retryAfterSec: 1 }],
    ["an HTML 502 page", { html502: true }],
    ["a plain 403 (WAF)", { status: 403, body: '{"message":"forbidden"}' }],
    ["an HTML 400 page from a proxy (not the OAuth server)", { status: 400, contentType: "text/html", body: "<html><body>Bad Request</body></html>" }],
    ["an HTML 401 page from a proxy", { status: 401, contentType: "text/html", body: "<html><body>Unauthorized</body></html>" }],
    ["server_error in a JSON 400", { oauthError: "server_error", status: 400 }],
    ["temporarily_unavailable", { oauthError: "temporarily_unavailable", status: 400 }],
  ];

  it.each(transient)("%s: retried within the budget, then PROVIDER_UNAVAILABLE with retry_after; the link is untouched", async (_name, fault) => {
    // Enough budget for a second attempt after a 1 s Retry-After; a short one otherwise.
    const h = await harness({ settings: { timeoutMs: 300, budgetMs: "retryAfterSec" in fault ? 1300 : 600 } });
    const k = key("alice");
    const { record: seeded } = await h.seed(k, { accessTtlSec: 5 });
    failAlways(h, fault);

    const err = await brokerError(h.skipWaits(h.engine.obtain(k, MIN_VALID), LONGEST_BACKOFF_MS), Reason.PROVIDER_UNAVAILABLE);
    expect(err.detail.retryAfterMs).toBeTypeOf("number");
    expect(err.detail.retryAfterMs).toBeGreaterThan(0);
    if ("retryAfterSec" in fault) expect(err.detail.retryAfterMs).toBe(1000);
    expect(h.fake.tokenRequests).toBeGreaterThan(1);
    expect(h.fake.refreshes).toBe(0);
    await expectUntouched(h, k, seeded);

    // Never cached: once the provider recovers the same refresh token works.
    h.fake.tokenFaults.length = 0;
    const got = await h.engine.obtain(k, MIN_VALID);
    expect(h.fake.isValid(got.accessToken)).toBe(true);
    expect(h.fake.replays).toBe(0);
    expect((await stored(h, k)).version).toBe(seeded.version + 1);
    expect(h.engine.lockCount).toBe(0);
  });

  it("a transient failure followed by success within the budget returns a token", async () => {
    const h = await harness();
    const k = key("bob");
    const { record: seeded } = await h.seed(k, { accessTtlSec: 5 });
    h.fake.failNext(1, { status: 500 });
    h.fake.failNext(1, { status: 429 });
    h.fake.failNext(1, { html502: true });
    const got = await h.engine.obtain(k, MIN_VALID);
    expect(h.fake.tokenRequests).toBe(4);
    expect(h.fake.refreshes).toBe(1);
    expect(got.accessToken).toBe(h.issued[0]!.accessToken);
    const rec = await stored(h, k);
    expect(rec.version).toBe(seeded.version + 1);
    expect(rec.refreshToken).toBe(h.issued[0]!.refreshToken);
  });

  const lost: Array<[string, TokenFault]> = [
    ["a hang past the answer timeout", { hangMs: 5000 }],
    ["a reset after the request was written", { reset: true }],
  ];

  it.each(lost)("%s: one request, never sent again; REFRESH_INTERRUPTED, then (window over) REAUTH_REQUIRED naming the interruption", async (_name, fault) => {
    const h = await harness({ settings: { timeoutMs: 300, budgetMs: 2000, interruptedWindowMs: 60_000 } });
    const k = key("lost");
    const { record: seeded } = await h.seed(k, { accessTtlSec: 5 });
    failAlways(h, fault);

    const err = await brokerError(h.skipWaits(h.engine.obtain(k, MIN_VALID), LONGEST_BACKOFF_MS), Reason.REFRESH_INTERRUPTED);
    expect(err.detail.retryAfterMs).toBeGreaterThan(0);
    expect(err.detail.metadata?.interrupted_by).toMatch(/^process \d+ on host /);
    expect(h.fake.tokenRequests).toBe(1);
    // Inside the window every caller hears the same, and nothing more is sent.
    await brokerError(h.engine.obtain(k, MIN_VALID), Reason.REFRESH_INTERRUPTED);
    expect(h.fake.tokenRequests).toBe(1);
    const rec = await stored(h, k);
    expect(rec.refreshToken).toBe(seeded.refreshToken);
    expect(rec.refreshFailure).toBeNull();

    // After the window the link fails, naming the interruption; still nothing sent.
    await h.clock.advance(60_001);
    const failed = await brokerError(h.engine.obtain(k, MIN_VALID), Reason.REAUTH_REQUIRED);
    expect(failed.detail.failureReason).toMatch(/was interrupted when its answer was lost and no answer arrived/);
    expect(h.fake.tokenRequests).toBe(1);
    expect(h.fake.replays).toBe(0);
  });

  it("a transient failure does not leave the lease behind: another process can refresh at once", async () => {
    const h = await harness({ settings: { budgetMs: 200 } });
    const other = h.secondEngine();
    const k = key("carol");
    await h.seed(k, { accessTtlSec: 5 });
    failAlways(h, { status: 500 });
    await brokerError(h.engine.obtain(k, MIN_VALID), Reason.PROVIDER_UNAVAILABLE);
    h.fake.tokenFaults.length = 0;
    const before = h.fake.tokenRequests;
    const got = await other.obtain(k, MIN_VALID);
    expect(h.fake.tokenRequests).toBe(before + 1);
    expect(h.fake.isValid(got.accessToken)).toBe(true);
  });

  it("concurrent callers during an outage: never two requests in flight for the key, link untouched", async () => {
    const h = await harness({ settings: { budgetMs: 150 } });
    const k = key("dave");
    const { record: seeded } = await h.seed(k, { accessTtlSec: 5 });
    failAlways(h, { status: 503 });
    const errs = await Promise.all(Array.from({ length: 5 }, () => h.engine.obtain(k, MIN_VALID).then(() => null, (e: unknown) => e)));
    for (const e of errs) expect(e).toMatchObject({ reason: Reason.PROVIDER_UNAVAILABLE });
    // Never more than one request in flight for the key.
    expect(h.fake.peakInFlight).toBe(1);
    await expectUntouched(h, k, seeded);
  });
  it("callers queued behind a failed refresh share its answer instead of each retrying against a provider that is down", async () => {
    const h = await harness({ settings: { timeoutMs: 300, budgetMs: 400, initialBackoffMs: 50, maxBackoffMs: 100 } });
    const k = key("queue");
    const { record: seeded } = await h.seed(k, { accessTtlSec: 5 });
    failAlways(h, { status: 503, retryAfterSec: 2 });
    const errs = await Promise.all(Array.from({ length: 20 }, () => h.engine.obtain(k, MIN_VALID).then(() => null, (e: unknown) => e)));
    for (const e of errs) expect(e).toMatchObject({ reason: Reason.PROVIDER_UNAVAILABLE });
    // One retry series (a 2 s Retry-After exceeds the 400 ms budget: one attempt), not twenty.
    expect(h.fake.tokenRequests).toBe(1);
    await expectUntouched(h, k, seeded);
    // A caller arriving after the failure tries again.
    h.fake.tokenFaults.length = 0;
    const got = await h.engine.obtain(k, MIN_VALID);
    expect(h.fake.isValid(got.accessToken)).toBe(true);
  });
});

describe("rate limiting at the token endpoint (invariant 7)", () => {
  it.each([
    ["HTTP 429", { status: 429 } as TokenFault],
    ["HTTP 429 with Retry-After", { status: 429, retryAfterSec: 1 } as TokenFault],
    ["HTTP 403 with X-RateLimit-Remaining: 0", { status: 403, headers: { "x-ratelimit-remaining": "0" } } as TokenFault],
    ["slow_down", { oauthError: "slow_down", status: 400 } as TokenFault],
  ])("%s throughout the budget: PROVIDER_RATE_LIMITED with retry_after; the link is untouched", async (_name, fault) => {
    const h = await harness({ settings: { budgetMs: "retryAfterSec" in fault ? 1300 : 600 } });
    const k = key("erin");
    const { record: seeded } = await h.seed(k, { accessTtlSec: 5 });
    failAlways(h, fault);
    const err = await brokerError(h.skipWaits(h.engine.obtain(k, MIN_VALID), LONGEST_BACKOFF_MS), Reason.PROVIDER_RATE_LIMITED);
    expect(err.detail.retryAfterMs).toBeGreaterThan(0);
    if ("retryAfterSec" in fault) expect(err.detail.retryAfterMs).toBe(1000);
    expect(h.fake.tokenRequests).toBeGreaterThan(1); // retried, honouring Retry-After
    await expectUntouched(h, k, seeded);
  });

  it("a 429 that clears within the budget ends in success", async () => {
    const h = await harness();
    const k = key("frank");
    await h.seed(k, { accessTtlSec: 5 });
    h.fake.failNext(2, { status: 429 });
    const got = await h.engine.obtain(k, MIN_VALID);
    expect(h.fake.tokenRequests).toBe(3);
    expect(got.accessToken).toBe(h.issued[0]!.accessToken);
  });
});
