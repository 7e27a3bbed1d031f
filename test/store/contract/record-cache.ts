import { describe, expect, it } from "vitest";
import { FakeSealer } from "../fake-sealer.js";
import { KEY, T0, tokens } from "../helpers.js";
import type { StoreFactory } from "./factory.js";

/**
 * The decoded-record cache across store instances (processes, hosts), for
 * any store. `settle` is the one step a networked store needs: another
 * host's commit reaches this one's cache one notification later (SQLite:
 * at once).
 */
export function recordCacheContract(f: StoreFactory): void {
  describe(`${f.name}: the decoded-record cache`, () => {
    it("sees this instance's own writes at once", async () => {
      const store = await (await f.fresh()).links();
      const put = await store.put(KEY, tokens(), T0);
      expect(await store.get(KEY)).toEqual(put);
      const committed = await store.commitRefresh(KEY, { version: 1, refreshToken: "rt-1" }, tokens({ accessToken: "at-2", refreshToken: "rt-2" }), T0 + 10);
      expect(await store.get(KEY)).toEqual(committed);
      await store.recordFailure(KEY, "rt-2", "bad_refresh_token", T0 + 20);
      expect((await store.get(KEY))?.refreshToken).toBeNull();
      await store.delete(KEY);
      expect(await store.get(KEY)).toBeUndefined();
    });

    it("another store instance's refresh commit is seen (two processes sharing a database)", async () => {
      const db = await f.fresh();
      const sealer = new FakeSealer();
      const a = await db.links(sealer);
      const b = await db.links(sealer);
      await a.put(KEY, tokens(), T0);
      await db.settle(b);
      const seenByB = await b.get(KEY);
      expect(seenByB?.accessToken).toBe("at-1");
      await a.commitRefresh(KEY, { version: seenByB!.version, refreshToken: "rt-1" }, tokens({ accessToken: "at-2", refreshToken: "rt-2" }), T0 + 1);
      await db.settle(b);
      expect((await b.get(KEY))?.accessToken).toBe("at-2");
      await a.delete(KEY);
      await db.settle(b);
      expect(await b.get(KEY)).toBeUndefined();
    });
  });

  describe(`${f.name}: the decoded-record cache and leases`, () => {
    it("lease writes of this instance neither change nor drop cached records", async () => {
      const store = await (await f.fresh()).links();
      await store.put(KEY, tokens(), T0);
      const cached = await store.get(KEY);
      const claim = await store.claimLease(KEY, "me", 60_000, null);
      if (!claim.claimed) throw new Error("expected a claim");
      expect(claim.record).toEqual(cached);
      expect(await store.confirmLease(KEY, claim.lease, 1, 60_000, { mark: "sending" })).toBe(true);
      expect(await store.get(KEY)).toBe(cached);
      expect(await store.confirmLease(KEY, claim.lease, 1, 60_000, { mark: "clear" })).toBe(true);
      expect(await store.get(KEY)).toBe(cached);
      await store.releaseLease(KEY, claim.lease, { keepSending: true });
      expect(await store.get(KEY)).toBe(cached);
    });

    it("another instance's lease writes leave what this one reads correct, and its commits are seen", async () => {
      const db = await f.fresh();
      const sealer = new FakeSealer();
      const a = await db.links(sealer);
      const b = await db.links(sealer);
      await a.put(KEY, tokens(), T0);
      const before = await a.get(KEY);

      const claim = await b.claimLease(KEY, "b", 60_000, null);
      if (!claim.claimed) throw new Error("expected a claim");
      expect(await b.confirmLease(KEY, claim.lease, 1, 60_000, { mark: "sending" })).toBe(true);
      expect(await a.get(KEY)).toEqual(before);
      const lease = await a.readLease(KEY);
      expect(lease).toEqual({ owner: "b", until: expect.any(Number), generation: 1, sending: { at: expect.any(Number) }, now: expect.any(Number) });
      expect(lease?.until).toBe((lease?.sending?.at ?? 0) + 60_000);

      // b commits while a still has the old record cached: a's claim reads the row, and a's next read sees b's commit.
      const committed = await b.commitRefresh(KEY, { version: 1, refreshToken: "rt-1" }, tokens({ accessToken: "at-2", refreshToken: "rt-2" }), T0 + 2);
      expect(await a.readLease(KEY)).toBeNull();
      const aClaim = await a.claimLease(KEY, "a", 60_000, null);
      expect(aClaim).toMatchObject({ claimed: true, record: committed });
      expect(aClaim).not.toHaveProperty("interrupted");
      await db.settle(a);
      expect(await a.get(KEY)).toEqual(committed);
    });

    it("a claim reads the row, not the cache", async () => {
      const db = await f.fresh();
      const store = await db.links();
      await store.put(KEY, tokens(), T0);
      await store.get(KEY);
      // Another writer (a raw connection here) changes the row; the claim must hand out what is stored.
      await db.raw.update({ version: 7, expires_at: T0 + 42 });
      const claim = await store.claimLease(KEY, "me", 60_000, null);
      expect(claim).toMatchObject({ claimed: true, record: { version: 7, expiresAt: T0 + 42 } });
    });
  });
}
