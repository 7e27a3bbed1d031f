import { afterEach, describe, expect, it, vi } from "vitest";
import type { LeaseClaim } from "../../../src/store/link-store.js";
import { FakeSealer } from "../fake-sealer.js";
import { KEY, T0, tokens } from "../helpers.js";
import type { ContractStore, StoreFactory, TestDatabase } from "./factory.js";

const fresh = { accessToken: "at-2", tokenType: "Bearer", refreshToken: "rt-2", expiresAt: T0 + 7_200_000 };
/** Longer than any test runs: a lease that must stay live. */
const LONG = 60_000;
const NO_SEND = { refresh_sent_at: null, refresh_sent_by: null, refresh_sent_digest: null };

async function sentColumns(db: TestDatabase): Promise<unknown> {
  return (await db.raw.select(["refresh_sent_at", "refresh_sent_by", "refresh_sent_digest"]))[0];
}

/** A TTL a test waits out: short on real time (PostgreSQL), round on a stepped clock. */
const shortTtl = (db: TestDatabase): number => (db.clock.stepped ? 1000 : 300);

function granted(claim: LeaseClaim): Extract<LeaseClaim, { claimed: true }> {
  if (!claim.claimed) throw new Error(`expected a claim, got ${JSON.stringify(claim)}`);
  return claim;
}

/**
 * The lease and the sending marker (docs/design.md §4.3), for any LinkStore.
 * Every lease time is the store's clock (§3 invariant 13): memory's and
 * SQLite's are stepped clocks the tests move, PostgreSQL's is
 * clock_timestamp() on real time, so the assertions speak of times the store
 * answered (`now`, `until`) and let time pass through `db.clock`.
 */
export function leaseContract(f: StoreFactory): void {
  describe(`${f.name}: claimLease`, () => {
    it("a missing link has no lease and cannot be claimed, conditionally or not", async () => {
      const store = await (await f.fresh()).links();
      expect(await store.readLease(KEY)).toBeUndefined();
      expect(await store.claimLease(KEY, "a", 1000, null)).toEqual({ claimed: false, missing: true });
      expect(await store.claimLease(KEY, "a", 1000, { owner: "b", generation: 1 })).toEqual({ claimed: false, missing: true });
      expect(await store.claimLease(KEY, "a", 1000, { owner: "b", generation: 1 }, { onlyIfExpired: true })).toEqual({ claimed: false, missing: true });
    });

    it("a free lease is claimed with the next generation and the current record, until the store's now + ttl", async () => {
      const db = await f.fresh();
      const store = await db.links();
      const put = await store.put(KEY, tokens(), T0);
      expect(await store.readLease(KEY)).toBeNull();
      const before = await db.clock.now();
      const claim = await store.claimLease(KEY, "a", LONG, null);
      expect(claim).toEqual({ claimed: true, lease: { owner: "a", generation: 1 }, record: put, now: expect.any(Number) });
      const { now } = granted(claim);
      expect(now).toBeGreaterThanOrEqual(before);
      const lease = await store.readLease(KEY);
      expect(lease).toEqual({ owner: "a", until: now + LONG, generation: 1, now: expect.any(Number) });
      expect(lease?.now).toBeGreaterThanOrEqual(now);
      expect(lease?.now).toBeLessThanOrEqual(await db.clock.now());
    });

    it("a held lease is never claimed on the store's own judgement of expiry", async () => {
      const db = await f.fresh();
      const store = await db.links();
      await store.put(KEY, tokens(), T0);
      const ttl = shortTtl(db);
      const { now } = granted(await store.claimLease(KEY, "a", ttl, null));
      const held = { owner: "a", until: now + ttl, generation: 1 };
      expect(await store.claimLease(KEY, "b", 1000, null)).toEqual({ claimed: false, held: { ...held, now: expect.any(Number) } });
      // Past lease_until by the store's clock: still a's until the engine says otherwise.
      await db.clock.elapse(ttl);
      expect(await store.claimLease(KEY, "b", 1000, null)).toEqual({ claimed: false, held: { ...held, now: expect.any(Number) } });
      expect(await store.readLease(KEY)).toMatchObject(held);
    });

    it("a conditional claim takes over exactly the holder the caller observed", async () => {
      const store = await (await f.fresh()).links();
      const put = await store.put(KEY, tokens(), T0);
      await store.claimLease(KEY, "a", LONG, null);
      const a = { owner: "a", generation: 1 };

      // Wrong owner, or right owner with another generation: nothing changes.
      expect(await store.claimLease(KEY, "b", LONG, { owner: "x", generation: 1 })).toMatchObject({ claimed: false, held: a });
      expect(await store.claimLease(KEY, "b", LONG, { owner: "a", generation: 2 })).toMatchObject({ claimed: false, held: a });

      // Without onlyIfExpired the takeover ignores expiry: the engine judged the holder dead.
      const b = granted(await store.claimLease(KEY, "b", LONG, a));
      expect(b).toEqual({ claimed: true, lease: { owner: "b", generation: 2 }, record: put, now: expect.any(Number) });
      const bLease = { owner: "b", until: b.now + LONG, generation: 2 };
      // A second claimant with the same, now stale, observation loses.
      expect(await store.claimLease(KEY, "c", LONG, a)).toEqual({ claimed: false, held: { ...bLease, now: expect.any(Number) } });

      // a's late release (old generation, not owner) changes nothing; neither does b with a's generation.
      await store.releaseLease(KEY, a);
      await store.releaseLease(KEY, { owner: "b", generation: 1 });
      expect(await store.readLease(KEY)).toMatchObject(bLease);

      // The holder extends by taking over from itself: a new generation.
      expect(await store.claimLease(KEY, "b", LONG, { owner: "b", generation: 2 })).toMatchObject({ claimed: true, lease: { generation: 3 } });
      await store.releaseLease(KEY, { owner: "b", generation: 3 });
      expect(await store.readLease(KEY)).toBeNull();

      // Expecting a holder that has released meanwhile: not claimed, and the caller learns it is free.
      expect(await store.claimLease(KEY, "c", LONG, { owner: "b", generation: 3 })).toEqual({ claimed: false, held: null });
      expect(await store.claimLease(KEY, "c", LONG, { owner: "b", generation: 3 }, { onlyIfExpired: true })).toEqual({ claimed: false, held: null });
      // onlyIfExpired says nothing about a free lease.
      expect(await store.claimLease(KEY, "c", LONG, null, { onlyIfExpired: true })).toMatchObject({ claimed: true, lease: { owner: "c", generation: 4 } });
    });

    it("onlyIfExpired refuses a live lease and takes it over once it ran out by the store's clock", async () => {
      const db = await f.fresh();
      const store = await db.links();
      await store.put(KEY, tokens(), T0);
      const a = granted(await store.claimLease(KEY, "a", LONG, null));
      const live = { owner: "a", until: a.now + LONG, generation: 1 };
      expect(await store.claimLease(KEY, "b", LONG, a.lease, { onlyIfExpired: true })).toEqual({ claimed: false, held: { ...live, now: expect.any(Number) } });
      expect(await store.readLease(KEY)).toMatchObject(live);

      let holder = a.lease;
      if (db.clock.stepped) {
        // The boundary: live one millisecond before lease_until, expired at it.
        await db.clock.elapse(LONG - 1);
        expect(await store.claimLease(KEY, "b", LONG, holder, { onlyIfExpired: true })).toMatchObject({ claimed: false, held: { ...live, now: a.now + LONG - 1 } });
        await db.clock.elapse(1);
      } else {
        await store.releaseLease(KEY, holder);
        const short = granted(await store.claimLease(KEY, "a", shortTtl(db), null));
        holder = short.lease;
        await db.clock.elapse(shortTtl(db));
      }
      const b = granted(await store.claimLease(KEY, "b", LONG, holder, { onlyIfExpired: true }));
      expect(b.lease).toEqual({ owner: "b", generation: holder.generation + 1 });
      expect(await store.readLease(KEY)).toMatchObject({ owner: "b", until: b.now + LONG });
      // A second claimant that judged the same expired holder loses.
      expect(await store.claimLease(KEY, "c", LONG, holder, { onlyIfExpired: true })).toMatchObject({ claimed: false, held: { owner: "b" } });
    });

    describe("the host's clock judges nothing", () => {
      afterEach(() => {
        vi.useRealTimers();
      });

      it("with Date.now an hour fast, a live lease is neither taken over (onlyIfExpired) nor lost at renewal", async () => {
        const db = await f.fresh();
        const store = await db.links();
        await store.put(KEY, tokens(), T0);
        const a = granted(await store.claimLease(KEY, "a", LONG, null));
        vi.useFakeTimers({ toFake: ["Date"], now: Date.now() + 3_600_000 });
        expect(await store.claimLease(KEY, "b", LONG, a.lease, { onlyIfExpired: true })).toMatchObject({ claimed: false, held: { owner: "a" } });
        expect(await store.confirmLease(KEY, a.lease, 1, LONG)).toBe(true);
        const lease = await store.readLease(KEY);
        expect(lease).toMatchObject({ owner: "a", generation: 1 });
        // The renewal is the store's now + ttl, not the host's.
        expect(Math.abs((lease?.until ?? 0) - a.now - LONG)).toBeLessThan(30_000);
      });
    });

    it("lease bookkeeping bumps neither version nor updated_at", async () => {
      const db = await f.fresh();
      const store = await db.links();
      await store.put(KEY, tokens(), T0);
      for (let i = 0; i < 6; i++) {
        const claim = granted(await store.claimLease(KEY, `o${i}`, LONG, null));
        const mark = [{}, { mark: "sending" as const }, { mark: "clear" as const }][i % 3];
        expect(await store.confirmLease(KEY, claim.lease, 1, LONG, mark)).toBe(true);
        await store.releaseLease(KEY, claim.lease, { keepSending: i % 2 === 0 });
      }
      expect(await store.get(KEY)).toMatchObject({ version: 1, updatedAt: T0 });
      expect(await store.readLease(KEY)).toBeNull();
      expect(await store.claimLease(KEY, "last", LONG, null)).toMatchObject({ lease: { generation: 7 } });
    });

    it("put, commitRefresh and recordFailure end the lease; the generation keeps counting", async () => {
      const store = await (await f.fresh()).links();
      await store.put(KEY, tokens(), T0);
      await store.claimLease(KEY, "a", LONG, null);
      await store.put(KEY, tokens(), T0 + 1);
      expect(await store.readLease(KEY)).toBeNull();
      expect(await store.claimLease(KEY, "b", LONG, null)).toMatchObject({ claimed: true, lease: { generation: 2 } });
      await store.commitRefresh(KEY, { version: 2, refreshToken: "rt-1" }, fresh, T0 + 3);
      expect(await store.readLease(KEY)).toBeNull();
      expect(await store.claimLease(KEY, "c", LONG, null)).toMatchObject({ claimed: true, lease: { generation: 3 } });
      expect(await store.recordFailure(KEY, "rt-2", "invalid_grant", T0 + 5)).toBe(true);
      expect(await store.readLease(KEY)).toBeNull();
      expect(await store.claimLease(KEY, "d", LONG, null)).toMatchObject({ claimed: true, lease: { generation: 4 } });
    });

    it("a claimed row that fails to open rejects and leaves the lease as it was", async () => {
      const db = await f.fresh();
      const store = await db.links();
      await store.put(KEY, tokens(), T0);
      await db.raw.update({ access_token: Buffer.from([0]) });
      await expect(store.claimLease(KEY, "a", LONG, null)).rejects.toMatchObject({ name: "DecryptError" });
      expect((await db.raw.select(["lease_owner", "lease_until", "generation"]))[0]).toEqual({ lease_owner: null, lease_until: null, generation: 0 });
    });

    it("readLease writes nothing", async () => {
      const db = await f.fresh();
      const store = await db.links();
      await store.put(KEY, tokens(), T0);
      await store.claimLease(KEY, "a", LONG, null);
      const before = await db.raw.writeStamp();
      for (let i = 0; i < 3; i++) await store.readLease(KEY);
      expect(await db.raw.writeStamp()).toBe(before);
    });
  });

  describe(`${f.name}: confirmLease`, () => {
    it("renews to the store's now + ttl only while owner, generation and row version all still hold, and before it expires by the store's clock", async () => {
      const db = await f.fresh();
      const store = await db.links();
      await store.put(KEY, tokens(), T0);
      const a = granted(await store.claimLease(KEY, "a", LONG, null));
      const ttl = shortTtl(db);
      expect(await store.confirmLease(KEY, a.lease, 1, ttl)).toBe(true);
      const renewed = await store.readLease(KEY);
      expect(renewed).toMatchObject({ owner: "a", generation: 1 });
      if (renewed === null || renewed === undefined) throw new Error("expected a lease");
      // Renewed from the store's now, here shorter than the claim's.
      expect(renewed.until - renewed.now).toBeLessThanOrEqual(ttl);
      expect(renewed.until).toBeGreaterThanOrEqual(a.now + ttl);
      if (db.clock.stepped) expect(renewed.until).toBe(a.now + ttl);

      // Once expired by the store's clock it cannot be renewed: another process may already have judged it free.
      await db.clock.elapse(ttl);
      expect(await store.confirmLease(KEY, a.lease, 1, LONG)).toBe(false);
      expect(await store.confirmLease(KEY, a.lease, 1, LONG, { mark: "sending" })).toBe(false);
      expect(await store.confirmLease(KEY, a.lease, 1, LONG, { mark: "clear" })).toBe(false);
      expect(await store.readLease(KEY)).toMatchObject({ owner: "a", until: renewed.until, generation: 1 });

      // Another claim (a takeover) ends a's lease: confirming fails and changes nothing.
      const b = granted(await store.claimLease(KEY, "b", LONG, a.lease, { onlyIfExpired: true }));
      expect(await store.confirmLease(KEY, a.lease, 1, LONG, { mark: "sending" })).toBe(false);
      expect(await store.readLease(KEY)).toMatchObject({ owner: "b", until: b.now + LONG, generation: 2 });
      expect(await sentColumns(db)).toEqual(NO_SEND);
    });

    it.skipIf(!f.steppedClock)(`is judged at lease_until exactly: live a millisecond before, expired at it${f.steppedClock ? "" : " (skipped: needs a clock the test can step)"}`, async () => {
        const db = await f.fresh();
        const store = await db.links();
        await store.put(KEY, tokens(), T0);
        const a = granted(await store.claimLease(KEY, "a", 1000, null));
        await db.clock.elapse(999);
        expect(await store.confirmLease(KEY, a.lease, 1, 1000)).toBe(true);
        expect(await store.readLease(KEY)).toEqual({ owner: "a", until: a.now + 1999, generation: 1, now: a.now + 999 });
        await db.clock.elapse(1000);
        expect(await store.confirmLease(KEY, a.lease, 1, 1000)).toBe(false);
      });

    it("fails against a version the row no longer has", async () => {
      const store = await (await f.fresh()).links();
      await store.put(KEY, tokens(), T0);
      await store.commitRefresh(KEY, { version: 1, refreshToken: "rt-1" }, fresh, T0 + 1);
      const claim = granted(await store.claimLease(KEY, "a", LONG, null));
      expect(claim.record.version).toBe(2);
      // The holder's view is from before the commit: it must not send.
      expect(await store.confirmLease(KEY, claim.lease, 1, LONG, { mark: "sending" })).toBe(false);
      expect(await store.confirmLease(KEY, claim.lease, 1, LONG)).toBe(false);
      expect(await store.readLease(KEY)).toMatchObject({ owner: "a", until: claim.now + LONG, generation: 1 });
      expect(await store.confirmLease(KEY, claim.lease, 2, LONG)).toBe(true);
    });
  });

  describe(`${f.name}: the sending marker`, () => {
    /** `owner` claims and records sending; `at` is when, by the store's clock. */
    async function sending(db: TestDatabase, owner = "a") {
      const store = await db.links();
      const claim = granted(await store.claimLease(KEY, owner, LONG, null));
      await db.clock.elapse(10);
      expect(await store.confirmLease(KEY, claim.lease, claim.record.version, LONG, { mark: "sending" })).toBe(true);
      const lease = await store.readLease(KEY);
      const at = lease?.sending?.at;
      if (at === undefined) throw new Error("expected the holder's sending mark");
      expect(at).toBeGreaterThanOrEqual(claim.now + 10);
      expect(lease).toEqual({ owner, until: at + LONG, generation: claim.lease.generation, sending: { at }, now: expect.any(Number) });
      return { store, lease: claim.lease, at };
    }

    it("confirm(sending) → release(keepSending) → the next claim reports the interrupted refresh, until a clean release", async () => {
      const db = await f.fresh();
      await (await db.links()).put(KEY, tokens(), T0);
      const { store, lease, at } = await sending(db);
      await store.releaseLease(KEY, lease, { keepSending: true });
      expect(await store.readLease(KEY)).toBeNull();

      const b = granted(await store.claimLease(KEY, "b", LONG, null));
      expect(b).toMatchObject({ claimed: true, interrupted: { by: "a", at } });
      expect(b.now).toBeGreaterThanOrEqual(at);
      // b holds the lease but has not sent: the marker is a's, not b's.
      expect(await store.readLease(KEY)).toEqual({ owner: "b", until: b.now + LONG, generation: 2, now: expect.any(Number) });
      // b gives up without learning anything: the next claimant still learns of a's send.
      await store.releaseLease(KEY, b.lease, { keepSending: true });
      const c = granted(await store.claimLease(KEY, "c", LONG, null));
      expect(c).toMatchObject({ interrupted: { by: "a", at } });
      // A clean release (the provider answered without rotating) forgets it.
      await store.releaseLease(KEY, c.lease);
      const d = granted(await store.claimLease(KEY, "d", LONG, null));
      expect(d.interrupted).toBeUndefined();
      expect(await sentColumns(db)).toEqual(NO_SEND);
    });

    it("confirm(clear) renews and clears the marker in one write: a later claimant sees no interruption", async () => {
      const db = await f.fresh();
      await (await db.links()).put(KEY, tokens(), T0);
      const { store, lease } = await sending(db);
      // The provider answered non-2xx: nothing is in doubt, and the holder backs off holding its lease.
      expect(await store.confirmLease(KEY, lease, 1, LONG, { mark: "clear" })).toBe(true);
      const after = await store.readLease(KEY);
      expect(after).toEqual({ owner: "a", until: expect.any(Number), generation: 1, now: expect.any(Number) });
      expect(await sentColumns(db)).toEqual(NO_SEND);
      // Paused during the backoff, the holder leaves an ordinary expired lease: released as if it died.
      await store.releaseLease(KEY, lease, { keepSending: true });
      expect(await store.claimLease(KEY, "b", LONG, null)).not.toHaveProperty("interrupted");
    });

    it("confirm(clear) clears a previous holder's mark too; a lost lease clears nothing", async () => {
      const db = await f.fresh();
      await (await db.links()).put(KEY, tokens(), T0);
      const { store, lease, at } = await sending(db);
      await store.releaseLease(KEY, lease, { keepSending: true });
      const b = granted(await store.claimLease(KEY, "b", LONG, null));
      expect(b.interrupted).toEqual({ by: "a", at });
      // a's lease is gone: its clear changes nothing.
      expect(await store.confirmLease(KEY, lease, 1, LONG, { mark: "clear" })).toBe(false);
      expect(await sentColumns(db)).toEqual({ refresh_sent_at: at, refresh_sent_by: "a", refresh_sent_digest: new FakeSealer().digest("rt-1") });
      // b sent the same token again (a grace window) and had an answer: nothing is in doubt any more.
      expect(await store.confirmLease(KEY, b.lease, 1, LONG, { mark: "clear" })).toBe(true);
      await store.releaseLease(KEY, b.lease, { keepSending: true });
      expect(await store.claimLease(KEY, "c", LONG, null)).not.toHaveProperty("interrupted");
    });

    it("a confirm(sending) of a lost lease records nothing", async () => {
      const db = await f.fresh();
      const store = await db.links();
      await store.put(KEY, tokens(), T0);
      const a = granted(await store.claimLease(KEY, "a", LONG, null));
      await store.releaseLease(KEY, a.lease);
      expect(await store.confirmLease(KEY, a.lease, 1, LONG, { mark: "sending" })).toBe(false);
      expect(await sentColumns(db)).toEqual(NO_SEND);
      expect(await store.claimLease(KEY, "b", LONG, null)).not.toHaveProperty("interrupted");
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
      expect(await sentColumns(db)).toEqual(NO_SEND);
      expect(await store.claimLease(KEY, "b", LONG, null)).not.toHaveProperty("interrupted");
    });

    it("marks the token stored when it was sent, by its digest, at the store's now", async () => {
      const db = await f.fresh();
      await (await db.links()).put(KEY, tokens(), T0);
      const { at } = await sending(db);
      expect(await sentColumns(db)).toEqual({ refresh_sent_at: at, refresh_sent_by: "a", refresh_sent_digest: new FakeSealer().digest("rt-1") });
      if (db.clock.stepped) expect(at).toBe(T0 + 10);
    });

    it("survives key rotation: re-sealing re-digests the refresh token and the marker with it", async () => {
      const db = await f.fresh();
      await (await db.links(new FakeSealer(["k1"]))).put(KEY, tokens(), T0);
      const other = { providerId: "github", userId: "bob" };
      const old = await db.links(new FakeSealer(["k1"]));
      await old.put(other, tokens(), T0);
      const { store, lease, at } = await sending(db);
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
      expect(await rotated.links.claimLease(KEY, "b", LONG, null)).toMatchObject({ claimed: true, interrupted: { by: "a", at } });
      expect(await rotated.links.claimLease(other, "b", LONG, null)).not.toHaveProperty("interrupted");
    });
  });
}
