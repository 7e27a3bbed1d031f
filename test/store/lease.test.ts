import { describe, expect, it } from "vitest";
import { KEY, T0, tokens, useTempStores } from "./helpers.js";

const t = useTempStores();

describe("leases", () => {
  it("a missing link cannot be claimed", async () => {
    const store = t.open(t.dbPath());
    expect(await store.claimLease(KEY, "a", 1000, T0)).toEqual({ claimed: false, missing: true });
  });

  it("claim, contend, expire, re-claim, release — with generations", async () => {
    const store = t.open(t.dbPath());
    const put = await store.put(KEY, tokens(), T0);

    const a = await store.claimLease(KEY, "a", 1000, T0);
    expect(a).toMatchObject({ claimed: true, generation: 1 });
    if (!a.claimed) throw new Error("unreachable");
    expect(a.record).toEqual({ ...put, lease: { owner: "a", until: T0 + 1000 }, generation: 1 });

    // Contended while held.
    expect(await store.claimLease(KEY, "b", 1000, T0 + 999)).toEqual({ claimed: false, owner: "a", until: T0 + 1000 });

    // Expired at lease_until (<= now): b takes over.
    const b = await store.claimLease(KEY, "b", 1000, T0 + 1000);
    expect(b).toMatchObject({ claimed: true, generation: 2, record: { lease: { owner: "b", until: T0 + 2000 } } });

    // a's late release (old generation, not owner) changes nothing.
    await store.releaseLease(KEY, "a", 1);
    expect((await store.get(KEY))?.lease).toEqual({ owner: "b", until: T0 + 2000 });
    // Right owner, wrong generation: nothing either.
    await store.releaseLease(KEY, "b", 1);
    expect((await store.get(KEY))?.lease).toEqual({ owner: "b", until: T0 + 2000 });

    // The owner may re-claim (extend); that is a new generation.
    expect(await store.claimLease(KEY, "b", 5000, T0 + 1500)).toMatchObject({ claimed: true, generation: 3 });
    await store.releaseLease(KEY, "b", 2);
    expect((await store.get(KEY))?.lease).toEqual({ owner: "b", until: T0 + 6500 });
    await store.releaseLease(KEY, "b", 3);
    expect((await store.get(KEY))?.lease).toBeNull();

    // Free again: anyone claims.
    expect(await store.claimLease(KEY, "c", 1000, T0 + 1600)).toMatchObject({ claimed: true, generation: 4 });
  });

  it("lease bookkeeping does not bump version or updated_at", async () => {
    const store = t.open(t.dbPath());
    await store.put(KEY, tokens(), T0);
    for (let i = 0; i < 5; i++) {
      const claim = await store.claimLease(KEY, `o${i}`, 1000, T0 + 10 * i);
      if (!claim.claimed) throw new Error("expected a claim");
      await store.releaseLease(KEY, `o${i}`, claim.generation);
    }
    const rec = await store.get(KEY);
    expect(rec).toMatchObject({ version: 1, updatedAt: T0, generation: 5, lease: null });
  });

  it("put and recordFailure release the lease; the generation keeps counting", async () => {
    const store = t.open(t.dbPath());
    await store.put(KEY, tokens(), T0);
    await store.claimLease(KEY, "a", 60_000, T0);
    await store.put(KEY, tokens(), T0 + 1);
    expect(await store.claimLease(KEY, "b", 60_000, T0 + 2)).toMatchObject({ claimed: true, generation: 2 });
    expect(await store.recordFailure(KEY, "rt-1", "invalid_grant", T0 + 3)).toBe(true);
    expect(await store.claimLease(KEY, "c", 60_000, T0 + 4)).toMatchObject({ claimed: true, generation: 3 });
  });

  it("a claimed row that fails to open rejects and releases the lease", async () => {
    const path = t.dbPath();
    const store = t.open(path);
    await store.put(KEY, tokens(), T0);
    t.raw(path).prepare("UPDATE links SET access_token = x'00'").run();
    await expect(store.claimLease(KEY, "a", 60_000, T0)).rejects.toMatchObject({ name: "DecryptError" });
    const raw = t.raw(path).prepare("SELECT lease_owner, generation FROM links").get();
    expect(raw).toEqual({ lease_owner: null, generation: 1 });
  });
});
