/**
 * docs/design.md §3 invariant 6: client-credential errors are not the user's fault.
 * The user's refresh token is kept, the provider is marked misconfigured with
 * a backoff (no retry storm), and fixing the configuration heals every link.
 * The breaker judges its backoff by the engine's clock: the tests skip it.
 */
import { describe, expect, it } from "vitest";
import { Reason } from "../../src/errors/index.js";
import { brokerError, harness, key, stored } from "./harness.js";

const MIN_VALID = 60_000;

describe("client-credential errors (invariant 6)", () => {
  it.each([
    ["invalid_client (standard, HTTP 401)", "standard", "invalid_client"],
    ["incorrect_client_credentials (github, HTTP 200)", "github", "incorrect_client_credentials"],
  ] as const)("%s: PROVIDER_MISCONFIGURED, refresh token kept, breaker holds, fixing the secret heals every link", async (_name, mode, code) => {
    const h = await harness({ fake: { mode, latencyMs: 20 } });
    const keys = [key("alice"), key("bob")];
    const seeded = await Promise.all(keys.map((k) => h.seed(k, { accessTtlSec: 5 })));
    // The provider's client secret was rotated; the engine still has the old one.
    h.fake.clientSecret = "rotated-secret-the-engine-does-not-know";
    h.secrets.add(h.fake.clientSecret);

    // Concurrent callers on one key: a single request reaches the provider.
    const errs = await Promise.all(Array.from({ length: 10 }, () => brokerError(h.engine.obtain(keys[0]!, MIN_VALID), Reason.PROVIDER_MISCONFIGURED)));
    expect(h.fake.tokenRequests).toBe(1);
    expect(h.fake.rejections).toBe(1);
    expect(errs[0]!.detail.failureReason).toContain(code);
    for (const e of errs) expect(e.detail.retryAfterMs).toBeGreaterThan(0);
    expect(h.providers.require("fake").gate.misconfigured(h.clock.now())).toBeDefined();

    // The users' links are untouched.
    for (const [i, k] of keys.entries()) {
      const rec = await stored(h, k);
      expect(rec.version).toBe(seeded[i]!.record.version);
      expect(rec.refreshToken).toBe(seeded[i]!.tokens.refreshToken);
      expect(rec.refreshFailure).toBeNull();
      expect(await h.store.readLease(k)).toBeNull();
    }

    // While the breaker is open nobody reaches the provider, on any key.
    for (const k of keys) {
      const e = await brokerError(h.engine.obtain(k, MIN_VALID), Reason.PROVIDER_MISCONFIGURED);
      expect(e.detail.failureReason).toContain(code);
    }
    expect(h.fake.tokenRequests).toBe(1);
    // A cache hit is still served while the provider is misconfigured.
    const freshKey = key("carol");
    const fresh = await h.seed(freshKey, { accessTtlSec: 3600 });
    expect((await h.engine.obtain(freshKey, MIN_VALID)).accessToken).toBe(fresh.tokens.accessToken);
    expect(h.fake.tokenRequests).toBe(1);

    // Fix the configuration (here: the provider accepts our secret again) and let the backoff pass.
    h.fake.clientSecret = h.provider.clientSecret;
    const wait = h.providers.require("fake").gate.misconfigured(h.clock.now())?.retryAfterMs ?? 0;
    await h.clock.advance(wait);
    const healed = await Promise.all(keys.map((k) => h.engine.obtain(k, MIN_VALID)));
    expect(h.fake.refreshes).toBe(2);
    expect(h.fake.replays).toBe(0);
    for (const [i, k] of keys.entries()) {
      expect(h.fake.isValid(healed[i]!.accessToken)).toBe(true);
      const rec = await stored(h, k);
      expect(rec.version).toBe(seeded[i]!.record.version + 1);
      expect(rec.refreshFailure).toBeNull();
    }
    expect(h.providers.require("fake").gate.misconfigured(h.clock.now())).toBeUndefined();
  });

  it("many keys queued for the provider when it starts rejecting our credentials: one request, not a storm", async () => {
    const h = await harness({ fake: { latencyMs: 30 }, settings: { providerConcurrency: 1 } });
    const keys = Array.from({ length: 10 }, (_, i) => key(`queued-${i}`));
    const seeded = await Promise.all(keys.map((k) => h.seed(k, { accessTtlSec: 5 })));
    h.fake.clientSecret = "rotated";
    const errs = await Promise.all(keys.map((k) => brokerError(h.engine.obtain(k, MIN_VALID), Reason.PROVIDER_MISCONFIGURED)));
    expect(errs).toHaveLength(10);
    expect(h.fake.tokenRequests).toBe(1);
    for (const [i, k] of keys.entries()) expect((await stored(h, k)).refreshToken).toBe(seeded[i]!.tokens.refreshToken);
  });

  it("unauthorized_client is a client-credential error too", async () => {
    const h = await harness();
    const k = key("dave");
    const { tokens } = await h.seed(k, { accessTtlSec: 5 });
    h.fake.failNext(1, { oauthError: "unauthorized_client" });
    await brokerError(h.engine.obtain(k, MIN_VALID), Reason.PROVIDER_MISCONFIGURED);
    const rec = await stored(h, k);
    expect(rec.refreshToken).toBe(tokens.refreshToken);
    expect(rec.refreshFailure).toBeNull();
    expect(h.fake.tokenRequests).toBe(1);
  });

  it("the backoff doubles while the provider keeps rejecting us, up to its cap", async () => {
    const h = await harness();
    const k = key("erin");
    await h.seed(k, { accessTtlSec: 5 });
    h.fake.clientSecret = "rotated";
    const first = await brokerError(h.engine.obtain(k, MIN_VALID), Reason.PROVIDER_MISCONFIGURED);
    expect(first.detail.retryAfterMs).toBeLessThanOrEqual(200);
    await h.clock.advance(first.detail.retryAfterMs!);
    const second = await brokerError(h.engine.obtain(k, MIN_VALID), Reason.PROVIDER_MISCONFIGURED);
    expect(h.fake.tokenRequests).toBe(2);
    expect(second.detail.retryAfterMs).toBeGreaterThan(200);
    expect(second.detail.retryAfterMs).toBeLessThanOrEqual(400);
    await h.clock.advance(second.detail.retryAfterMs!);
    const third = await brokerError(h.engine.obtain(k, MIN_VALID), Reason.PROVIDER_MISCONFIGURED);
    expect(h.fake.tokenRequests).toBe(3);
    expect(third.detail.retryAfterMs).toBeLessThanOrEqual(400); // capped by maxMs
    expect((await stored(h, k)).refreshFailure).toBeNull();
  });

  it("a restarted engine with the corrected secret heals the link (fixing the engine's config)", async () => {
    const h = await harness();
    const k = key("frank");
    const { tokens } = await h.seed(k, { accessTtlSec: 5 });
    const broken = h.newEngine({ providers: h.registry([{ ...h.provider, clientSecret: "wrong-secret" }]) });
    await brokerError(broken.obtain(k, MIN_VALID), Reason.PROVIDER_MISCONFIGURED);
    expect((await stored(h, k)).refreshToken).toBe(tokens.refreshToken);
    // The daemon restarted with the fixed config (h.engine has the right secret).
    const got = await h.engine.obtain(k, MIN_VALID);
    expect(h.fake.isValid(got.accessToken)).toBe(true);
    expect(h.fake.refreshes).toBe(1);
  });
});
