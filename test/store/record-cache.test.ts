import { describe, expect, it } from "vitest";
import { FakeSealer } from "./fake-sealer.js";
import { KEY, T0, tokens, useTempStores } from "./helpers.js";

const stores = useTempStores();

describe("the decoded-record cache", () => {
  it("serves repeated reads without the database, and sees this connection's own writes", async () => {
    const path = stores.dbPath();
    const store = stores.links(path);
    await store.put(KEY, tokens(), T0);
    const first = await store.get(KEY);
    // Tamper behind SQLite's back: a cached read does not notice...
    const raw = stores.raw(path);
    expect(await store.get(KEY)).toBe(first);
    // ...but a committed write from another connection drops the cache (data_version).
    raw.prepare("UPDATE links SET expires_at = ? WHERE provider_id = ? AND user_id = ?").run(T0 + 5, KEY.providerId, KEY.userId);
    const after = await store.get(KEY);
    expect(after).not.toBe(first);
    expect(after?.expiresAt).toBe(T0 + 5);

    const committed = await store.commitRefresh(KEY, { version: after!.version, refreshToken: "rt-1" }, tokens({ accessToken: "at-2", refreshToken: "rt-2" }), T0 + 10);
    expect(await store.get(KEY)).toEqual(committed);
    await store.recordFailure(KEY, "rt-2", "bad_refresh_token", T0 + 20);
    expect((await store.get(KEY))?.refreshToken).toBeNull();
    await store.delete(KEY);
    expect(await store.get(KEY)).toBeUndefined();
  });

  it("another store instance's refresh commit is seen at once (two processes sharing a file)", async () => {
    const path = stores.dbPath();
    const sealer = new FakeSealer();
    const a = stores.links(path, sealer);
    const b = stores.links(path, sealer);
    await a.put(KEY, tokens(), T0);
    const seenByB = await b.get(KEY);
    expect(seenByB?.accessToken).toBe("at-1");
    await a.commitRefresh(KEY, { version: seenByB!.version, refreshToken: "rt-1" }, tokens({ accessToken: "at-2", refreshToken: "rt-2" }), T0 + 1);
    expect((await b.get(KEY))?.accessToken).toBe("at-2");
    await a.delete(KEY);
    expect(await b.get(KEY)).toBeUndefined();
  });
});

describe("the decoded-record cache and leases", () => {
  it("lease writes of this connection neither change nor drop cached records", async () => {
    const path = stores.dbPath();
    const store = stores.links(path);
    await store.put(KEY, tokens(), T0);
    const cached = await store.get(KEY);
    const claim = await store.claimLease(KEY, "me", 1000, T0, null);
    if (!claim.claimed) throw new Error("expected a claim");
    expect(claim.record).toEqual(cached);
    expect(await store.confirmLease(KEY, claim.lease, 1, 1000, T0 + 1, { sending: true })).toBe(true);
    expect(await store.get(KEY)).toBe(cached);
    await store.releaseLease(KEY, claim.lease, { keepSending: true });
    expect(await store.get(KEY)).toBe(cached);
  });

  it("another process's lease writes leave what this one reads correct, and its commits are seen at once", async () => {
    const path = stores.dbPath();
    const sealer = new FakeSealer();
    const a = stores.links(path, sealer);
    const b = stores.links(path, sealer);
    await a.put(KEY, tokens(), T0);
    const before = await a.get(KEY);

    const claim = await b.claimLease(KEY, "b", 1000, T0, null);
    if (!claim.claimed) throw new Error("expected a claim");
    expect(await b.confirmLease(KEY, claim.lease, 1, 1000, T0 + 1, { sending: true })).toBe(true);
    expect(await a.get(KEY)).toEqual(before);
    expect(await a.readLease(KEY)).toEqual({ owner: "b", until: T0 + 1001, generation: 1, sending: { at: T0 + 1 } });

    // b commits while a still has the old record cached: a's next read and a's claim both see b's commit.
    const committed = await b.commitRefresh(KEY, { version: 1, refreshToken: "rt-1" }, tokens({ accessToken: "at-2", refreshToken: "rt-2" }), T0 + 2);
    expect(await a.readLease(KEY)).toBeNull();
    const aClaim = await a.claimLease(KEY, "a", 1000, T0 + 3, null);
    expect(aClaim).toMatchObject({ claimed: true, record: committed });
    expect(aClaim).not.toHaveProperty("interrupted");
    expect(await a.get(KEY)).toEqual(committed);
  });

  it("a claim reads the row, not the cache", async () => {
    const path = stores.dbPath();
    const store = stores.links(path);
    await store.put(KEY, tokens(), T0);
    await store.get(KEY);
    // Another writer (a raw connection here) changes the row; the claim must hand out what is stored.
    stores.raw(path).prepare("UPDATE links SET version = 7, expires_at = ?").run(T0 + 42);
    const claim = await store.claimLease(KEY, "me", 1000, T0, null);
    expect(claim).toMatchObject({ claimed: true, record: { version: 7, expiresAt: T0 + 42 } });
  });
});
