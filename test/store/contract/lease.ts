import { describe, expect, it } from "vitest";
import { FakeSealer } from "../fake-sealer.js";
import { KEY, T0, tokens } from "../helpers.js";
import type { ContractStore, StoreFactory, TestDatabase } from "./factory.js";

const fresh = { accessToken: "at-2", tokenType: "Bearer", refreshToken: "rt-2", expiresAt: T0 + 7_200_000 };

async function sentColumns(db: TestDatabase): Promise<unknown> {
  return (await db.raw.select(["refresh_sent_at", "refresh_sent_by", "refresh_sent_digest"]))[0];
}

/** The lease and the sending marker (docs/design.md §4.3), for any LinkStore. */
export function leaseContract(f: StoreFactory): void {
  describe(`${f.name}: claimLease`, () => {
    it("a missing link has no lease and cannot be claimed, conditionally or not", async () => {
      const store = await (await f.fresh()).links();
      expect(await store.readLease(KEY)).toBeUndefined();
      expect(await store.claimLease(KEY, "a", 1000, T0, null)).toEqual({ claimed: false, missing: true });
      expect(await store.claimLease(KEY, "a", 1000, T0, { owner: "b", generation: 1 })).toEqual({ claimed: false, missing: true });
    });

    it("a free lease is claimed with the next generation and the current record", async () => {
      const store = await (await f.fresh()).links();
      const put = await store.put(KEY, tokens(), T0);
      expect(await store.readLease(KEY)).toBeNull();
      const claim = await store.claimLease(KEY, "a", 1000, T0, null);
      expect(claim).toEqual({ claimed: true, lease: { owner: "a", generation: 1 }, record: put });
      expect(await store.readLease(KEY)).toEqual({ owner: "a", until: T0 + 1000, generation: 1 });
    });

    it("a held lease is never claimed on the store's own judgement of expiry", async () => {
      const store = await (await f.fresh()).links();
      await store.put(KEY, tokens(), T0);
      await store.claimLease(KEY, "a", 1000, T0, null);
      const held = { claimed: false, held: { owner: "a", until: T0 + 1000, generation: 1 } };
      expect(await store.claimLease(KEY, "b", 1000, T0 + 999, null)).toEqual(held);
      // Long past lease_until: still a's until the engine says otherwise.
      expect(await store.claimLease(KEY, "b", 1000, T0 + 1_000_000, null)).toEqual(held);
      expect(await store.readLease(KEY)).toEqual(held.held);
    });

    it("a conditional claim takes over exactly the holder the caller observed", async () => {
      const store = await (await f.fresh()).links();
      const put = await store.put(KEY, tokens(), T0);
      await store.claimLease(KEY, "a", 1000, T0, null);

      // Wrong owner, or right owner with another generation: nothing changes.
      expect(await store.claimLease(KEY, "b", 1000, T0 + 2000, { owner: "x", generation: 1 })).toEqual({
        claimed: false,
        held: { owner: "a", until: T0 + 1000, generation: 1 },
      });
      expect(await store.claimLease(KEY, "b", 1000, T0 + 2000, { owner: "a", generation: 2 })).toMatchObject({ claimed: false, held: { owner: "a" } });

      const b = await store.claimLease(KEY, "b", 1000, T0 + 2000, { owner: "a", generation: 1 });
      expect(b).toEqual({ claimed: true, lease: { owner: "b", generation: 2 }, record: put });
      // A second claimant with the same, now stale, observation loses.
      expect(await store.claimLease(KEY, "c", 1000, T0 + 2001, { owner: "a", generation: 1 })).toEqual({
        claimed: false,
        held: { owner: "b", until: T0 + 3000, generation: 2 },
      });

      // a's late release (old generation, not owner) changes nothing; neither does b with a's generation.
      await store.releaseLease(KEY, { owner: "a", generation: 1 });
      await store.releaseLease(KEY, { owner: "b", generation: 1 });
      expect(await store.readLease(KEY)).toEqual({ owner: "b", until: T0 + 3000, generation: 2 });

      // The holder extends by taking over from itself: a new generation.
      expect(await store.claimLease(KEY, "b", 5000, T0 + 2500, { owner: "b", generation: 2 })).toMatchObject({ claimed: true, lease: { generation: 3 } });
      await store.releaseLease(KEY, { owner: "b", generation: 3 });
      expect(await store.readLease(KEY)).toBeNull();

      // Expecting a holder that has released meanwhile: not claimed, and the caller learns it is free.
      expect(await store.claimLease(KEY, "c", 1000, T0 + 3000, { owner: "b", generation: 3 })).toEqual({ claimed: false, held: null });
      expect(await store.claimLease(KEY, "c", 1000, T0 + 3000, null)).toMatchObject({ claimed: true, lease: { owner: "c", generation: 4 } });
    });

    it("lease bookkeeping bumps neither version nor updated_at", async () => {
      const store = await (await f.fresh()).links();
      await store.put(KEY, tokens(), T0);
      for (let i = 0; i < 5; i++) {
        const claim = await store.claimLease(KEY, `o${i}`, 1000, T0 + 10 * i, null);
        if (!claim.claimed) throw new Error("expected a claim");
        expect(await store.confirmLease(KEY, claim.lease, 1, 1000, T0 + 10 * i + 1, { sending: i % 2 === 0 })).toBe(true);
        await store.releaseLease(KEY, claim.lease, { keepSending: i % 2 === 0 });
      }
      expect(await store.get(KEY)).toMatchObject({ version: 1, updatedAt: T0 });
      expect(await store.readLease(KEY)).toBeNull();
      expect(await store.claimLease(KEY, "last", 1000, T0 + 100, null)).toMatchObject({ lease: { generation: 6 } });
    });

    it("put, commitRefresh and recordFailure end the lease; the generation keeps counting", async () => {
      const store = await (await f.fresh()).links();
      await store.put(KEY, tokens(), T0);
      await store.claimLease(KEY, "a", 60_000, T0, null);
      await store.put(KEY, tokens(), T0 + 1);
      expect(await store.readLease(KEY)).toBeNull();
      expect(await store.claimLease(KEY, "b", 60_000, T0 + 2, null)).toMatchObject({ claimed: true, lease: { generation: 2 } });
      await store.commitRefresh(KEY, { version: 2, refreshToken: "rt-1" }, fresh, T0 + 3);
      expect(await store.readLease(KEY)).toBeNull();
      expect(await store.claimLease(KEY, "c", 60_000, T0 + 4, null)).toMatchObject({ claimed: true, lease: { generation: 3 } });
      expect(await store.recordFailure(KEY, "rt-2", "invalid_grant", T0 + 5)).toBe(true);
      expect(await store.readLease(KEY)).toBeNull();
      expect(await store.claimLease(KEY, "d", 60_000, T0 + 6, null)).toMatchObject({ claimed: true, lease: { generation: 4 } });
    });

    it("a claimed row that fails to open rejects and leaves the lease as it was", async () => {
      const db = await f.fresh();
      const store = await db.links();
      await store.put(KEY, tokens(), T0);
      await db.raw.update({ access_token: Buffer.from([0]) });
      await expect(store.claimLease(KEY, "a", 60_000, T0, null)).rejects.toMatchObject({ name: "DecryptError" });
      expect((await db.raw.select(["lease_owner", "lease_until", "generation"]))[0]).toEqual({ lease_owner: null, lease_until: null, generation: 0 });
    });

    it("readLease writes nothing", async () => {
      const db = await f.fresh();
      const store = await db.links();
      await store.put(KEY, tokens(), T0);
      await store.claimLease(KEY, "a", 60_000, T0, null);
      const before = await db.raw.writeStamp();
      for (let i = 0; i < 3; i++) await store.readLease(KEY);
      expect(await db.raw.writeStamp()).toBe(before);
    });
  });

  describe(`${f.name}: confirmLease`, () => {
    it("renews the lease only while owner, generation and row version all still hold, and before it expires", async () => {
      const store = await (await f.fresh()).links();
      await store.put(KEY, tokens(), T0);
      const a = await store.claimLease(KEY, "a", 1000, T0, null);
      if (!a.claimed) throw new Error("expected a claim");
      expect(await store.confirmLease(KEY, a.lease, 1, 1000, T0 + 800)).toBe(true);
      expect(await store.readLease(KEY)).toEqual({ owner: "a", until: T0 + 1800, generation: 1 });
      // Once expired it cannot be renewed: another process may already have judged it free.
      expect(await store.confirmLease(KEY, a.lease, 1, 1000, T0 + 1800)).toBe(false);
      expect(await store.confirmLease(KEY, a.lease, 1, 1000, T0 + 5000, { sending: true })).toBe(false);
      expect(await store.readLease(KEY)).toEqual({ owner: "a", until: T0 + 1800, generation: 1 });

      // Another claim (a takeover) ends a's lease: confirming fails and changes nothing.
      const b = await store.claimLease(KEY, "b", 1000, T0 + 7000, { owner: "a", generation: 1 });
      if (!b.claimed) throw new Error("expected a takeover");
      expect(await store.confirmLease(KEY, a.lease, 1, 60_000, T0 + 7001, { sending: true })).toBe(false);
      expect(await store.readLease(KEY)).toEqual({ owner: "b", until: T0 + 8000, generation: 2 });
    });

    it("fails against a version the row no longer has", async () => {
      const store = await (await f.fresh()).links();
      await store.put(KEY, tokens(), T0);
      await store.commitRefresh(KEY, { version: 1, refreshToken: "rt-1" }, fresh, T0 + 1);
      const claim = await store.claimLease(KEY, "a", 1000, T0 + 2, null);
      if (!claim.claimed) throw new Error("expected a claim");
      expect(claim.record.version).toBe(2);
      // The holder's view is from before the commit: it must not send.
      expect(await store.confirmLease(KEY, claim.lease, 1, 1000, T0 + 3, { sending: true })).toBe(false);
      expect(await store.confirmLease(KEY, claim.lease, 1, 1000, T0 + 3)).toBe(false);
      expect(await store.readLease(KEY)).toEqual({ owner: "a", until: T0 + 1002, generation: 1 });
      expect(await store.confirmLease(KEY, claim.lease, 2, 1000, T0 + 3)).toBe(true);
    });
  });

  describe(`${f.name}: the sending marker`, () => {
    async function sending(db: TestDatabase, owner = "a", now = T0 + 10) {
      const store = await db.links();
      const claim = await store.claimLease(KEY, owner, 1000, now - 10, null);
      if (!claim.claimed) throw new Error("expected a claim");
      expect(await store.confirmLease(KEY, claim.lease, claim.record.version, 1000, now, { sending: true })).toBe(true);
      return { store, lease: claim.lease };
    }

    it("confirm(sending) → release(keepSending) → the next claim reports the interrupted refresh, until a clean release", async () => {
      const db = await f.fresh();
      await (await db.links()).put(KEY, tokens(), T0);
      const { store, lease } = await sending(db);
      expect(await store.readLease(KEY)).toEqual({ owner: "a", until: T0 + 1010, generation: 1, sending: { at: T0 + 10 } });
      await store.releaseLease(KEY, lease, { keepSending: true });
      expect(await store.readLease(KEY)).toBeNull();

      const b = await store.claimLease(KEY, "b", 1000, T0 + 20, null);
      expect(b).toMatchObject({ claimed: true, interrupted: { by: "a", at: T0 + 10 } });
      if (!b.claimed) throw new Error("unreachable");
      // b holds the lease but has not sent: the marker is a's, not b's.
      expect(await store.readLease(KEY)).toEqual({ owner: "b", until: T0 + 1020, generation: 2 });
      // b gives up without learning anything: the next claimant still learns of a's send.
      await store.releaseLease(KEY, b.lease, { keepSending: true });
      const c = await store.claimLease(KEY, "c", 1000, T0 + 30, null);
      expect(c).toMatchObject({ claimed: true, interrupted: { by: "a", at: T0 + 10 } });
      if (!c.claimed) throw new Error("unreachable");
      // A clean release (the provider answered without rotating) forgets it.
      await store.releaseLease(KEY, c.lease);
      const d = await store.claimLease(KEY, "d", 1000, T0 + 40, null);
      expect(d.claimed && d.interrupted).toBeUndefined();
      expect(await sentColumns(db)).toEqual({ refresh_sent_at: null, refresh_sent_by: null, refresh_sent_digest: null });
    });

    it("a confirm(sending) of a lost lease records nothing", async () => {
      const db = await f.fresh();
      const store = await db.links();
      await store.put(KEY, tokens(), T0);
      const a = await store.claimLease(KEY, "a", 1000, T0, null);
      if (!a.claimed) throw new Error("expected a claim");
      await store.releaseLease(KEY, a.lease);
      expect(await store.confirmLease(KEY, a.lease, 1, 1000, T0 + 1, { sending: true })).toBe(false);
      expect(await sentColumns(db)).toEqual({ refresh_sent_at: null, refresh_sent_by: null, refresh_sent_digest: null });
      expect(await store.claimLease(KEY, "b", 1000, T0 + 2, null)).not.toHaveProperty("interrupted");
    });

    it.each([
      ["commitRefresh", (s: ContractStore["links"]) => s.commitRefresh(KEY, { version: 1, refreshToken: "rt-1" }, fresh, T0 + 50)],
      ["recordFailure", (s: ContractStore["links"]) => s.recordFailure(KEY, "rt-1", "invalid_grant", T0 + 50)],
      ["put", (s: ContractStore["links"]) => s.put(KEY, tokens({ refreshToken: "rt-1" }), T0 + 50)],
    ])("%s clears it, with the lease", async (_name, write) => {
      const db = await f.fresh();
      await (await db.links()).put(KEY, tokens(), T0);
      const { store } = await sending(db);
      await write(store);
      expect(await store.readLease(KEY)).toBeNull();
      expect(await sentColumns(db)).toEqual({ refresh_sent_at: null, refresh_sent_by: null, refresh_sent_digest: null });
      expect(await store.claimLease(KEY, "b", 1000, T0 + 60, null)).not.toHaveProperty("interrupted");
    });

    it("marks the token stored when it was sent, by its digest", async () => {
      const db = await f.fresh();
      await (await db.links()).put(KEY, tokens(), T0);
      await sending(db);
      expect(await sentColumns(db)).toEqual({ refresh_sent_at: T0 + 10, refresh_sent_by: "a", refresh_sent_digest: new FakeSealer().digest("rt-1") });
    });

    it("survives key rotation: re-sealing re-digests the refresh token and the marker with it", async () => {
      const db = await f.fresh();
      await (await db.links(new FakeSealer(["k1"]))).put(KEY, tokens(), T0);
      const other = { providerId: "github", userId: "bob" };
      const old = await db.links(new FakeSealer(["k1"]));
      await old.put(other, tokens(), T0);
      const { store, lease } = await sending(db);
      await store.releaseLease(KEY, lease, { keepSending: true });
      // bob's marker names a token that is no longer stored (as a foreign writer could leave it).
      await db.raw.update({ refresh_sent_at: 1, refresh_sent_by: "z", refresh_sent_digest: "k1:stale" }, { user_id: "bob" });

      const rotated = await db.open(new FakeSealer(["k2", "k1"]));
      expect(await rotated.keyring.reseal(undefined, 10)).toMatchObject({ resealed: 2 });
      const raw = await db.raw.select(["user_id", "refresh_token_digest", "refresh_sent_digest"]);
      expect(raw).toEqual([
        { user_id: "alice", refresh_token_digest: new FakeSealer(["k2"]).digest("rt-1"), refresh_sent_digest: new FakeSealer(["k2"]).digest("rt-1") },
        { user_id: "bob", refresh_token_digest: new FakeSealer(["k2"]).digest("rt-1"), refresh_sent_digest: "k1:stale" },
      ]);
      expect(await rotated.links.claimLease(KEY, "b", 1000, T0 + 20, null)).toMatchObject({ claimed: true, interrupted: { by: "a", at: T0 + 10 } });
      expect(await rotated.links.claimLease(other, "b", 1000, T0 + 20, null)).not.toHaveProperty("interrupted");
    });
  });
}
