/**
 * docs/design.md §3 invariant 3: the refresh runs on a lifetime detached from the
 * caller. A caller whose deadline passes mid-refresh stops waiting, but the
 * rotated refresh token is still committed, and the next caller is served
 * from the store.
 */
import { describe, expect, it } from "vitest";
import { deferred, harness, key, rejection, stored, until } from "./harness.js";

const MIN_VALID = 60_000;

describe("a caller's deadline never loses a rotated refresh token (invariant 3)", () => {
  it("the caller's promise rejects, yet the rotated token is committed and the next call makes no request", async () => {
    // The provider takes longer than the caller is willing to wait, but less
    // than the engine's own request timeout.
    const h = await harness({ fake: { latencyMs: 300 }, settings: { timeoutMs: 2000, budgetMs: 2000 } });
    const k = key("alice");
    const { record: seeded, tokens: old } = await h.seed(k, { accessTtlSec: 5 });

    const err = await rejection(h.engine.obtain(k, MIN_VALID, AbortSignal.timeout(50)));
    expect(err).toBeInstanceOf(Error);
    expect((err as Error).name).toBe("AbortError");
    // The caller gave up before the provider even answered.
    expect(h.issued).toHaveLength(0);

    await h.engine.drain();
    expect(h.fake.refreshes).toBe(1);
    const [issued] = h.issued;
    const rec = await stored(h, k);
    expect(rec.version).toBe(seeded.version + 1);
    expect(rec.refreshToken).toBe(issued!.refreshToken);
    expect(rec.refreshToken).not.toBe(old.refreshToken);
    expect(rec.accessToken).toBe(issued!.accessToken);
    expect(rec.refreshFailure).toBeNull();
    expect(await h.store.readLease(k)).toBeNull();
    expect(h.fake.isValid(rec.accessToken)).toBe(true);

    const requests = h.fake.tokenRequests;
    const next = await h.engine.obtain(k, MIN_VALID);
    expect(next.accessToken).toBe(issued!.accessToken);
    expect(h.fake.tokenRequests).toBe(requests);
    expect(h.engine.lockCount).toBe(0);
  });

  it("the commit happens even when every caller has gone, before anyone asks again", async () => {
    const h = await harness({ settings: { timeoutMs: 2000, budgetMs: 2000 } });
    const k = key("bob");
    const { record: seeded } = await h.seed(k, { accessTtlSec: 5 });
    const release = deferred();
    const reached = deferred();
    h.onRespond = async () => {
      reached.resolve();
      await release.promise;
    };
    const ac = new AbortController();
    const callers = Array.from({ length: 5 }, () => rejection(h.engine.obtain(k, MIN_VALID, ac.signal)));
    await reached.promise;
    ac.abort(new Error("client went away"));
    for (const e of await Promise.all(callers)) expect((e as Error).name).toBe("AbortError");
    // Still in flight: nothing is committed yet.
    expect((await stored(h, k)).version).toBe(seeded.version);
    release.resolve();
    // Wait for the commit without calling obtain (which could refresh itself).
    await until(() => h.engine.lockCount === 0, "the detached refresh to finish");
    await h.engine.drain();
    const rec = await stored(h, k);
    expect(rec.version).toBe(seeded.version + 1);
    expect(rec.refreshToken).toBe(h.issued[0]!.refreshToken);
    expect(h.fake.tokenRequests).toBe(1);
  });

  it("callers without a deadline still get the token while an impatient one gives up", async () => {
    const h = await harness({ fake: { latencyMs: 250 }, settings: { timeoutMs: 2000, budgetMs: 2000 } });
    const k = key("carol");
    await h.seed(k, { accessTtlSec: 5 });
    const impatient = rejection(h.engine.obtain(k, MIN_VALID, AbortSignal.timeout(30)));
    const patient = Array.from({ length: 10 }, () => h.engine.obtain(k, MIN_VALID));
    expect(((await impatient) as Error).name).toBe("AbortError");
    const got = await Promise.all(patient);
    expect(new Set(got.map((r) => r.accessToken)).size).toBe(1);
    expect(got[0]!.accessToken).toBe(h.issued[0]!.accessToken);
    expect(h.fake.tokenRequests).toBe(1);
  });

  it("an already-aborted signal rejects at once, and a refresh it started is still committed", async () => {
    const h = await harness();
    const k = key("dave");
    const { record: seeded } = await h.seed(k, { accessTtlSec: 5 });
    const ac = new AbortController();
    ac.abort();
    const err = await rejection(h.engine.obtain(k, MIN_VALID, ac.signal));
    expect((err as Error).name).toBe("AbortError");
    await h.engine.drain();
    // Whether or not the engine started a refresh for an already-gone caller,
    // nothing may be lost: the store holds what the provider last issued.
    const rec = await stored(h, k);
    if (h.fake.refreshes > 0) {
      expect(rec.version).toBe(seeded.version + 1);
      expect(rec.refreshToken).toBe(h.issued.at(-1)!.refreshToken);
    } else {
      expect(rec.version).toBe(seeded.version);
    }
  });
});
