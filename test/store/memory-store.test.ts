import { createHash } from "node:crypto";
import { describe, expect, it } from "vitest";
import { MemoryDatabase, openMemoryStore } from "../../src/store/memory/index.js";
import { KEY, T0, tokens } from "./helpers.js";

describe("the in-memory store (store/memory/)", () => {
  it("by default stores plaintext bytes and a plain SHA-256 digest, and the CAS compares through it", async () => {
    const store = openMemoryStore();
    await store.links.put(KEY, tokens(), T0);
    const row = store.database.links.get(`${KEY.providerId}\u0000${KEY.userId}`);
    expect(row?.refresh_token?.toString("utf8")).toBe("rt-1");
    expect(row?.refresh_token_digest).toBe(`plain:${createHash("sha256").update("rt-1").digest("hex")}`);
    expect(await store.links.commitRefresh(KEY, { version: 1, refreshToken: "rt-x" }, tokens({ refreshToken: "rt-2" }), T0 + 1)).toBeUndefined();
    expect(await store.links.commitRefresh(KEY, { version: 1, refreshToken: "rt-1" }, tokens({ refreshToken: "rt-2" }), T0 + 1)).toMatchObject({ version: 2, refreshToken: "rt-2" });
    expect(await store.keyring.countByKeyId()).toEqual(new Map([["plain", 3]]));
  });

  it("stores opened on one database share it, like processes sharing a file; the clock is the database's", async () => {
    let t = T0;
    const database = new MemoryDatabase({ clock: { now: () => t } });
    const a = openMemoryStore({ database });
    const b = openMemoryStore({ database });
    await a.links.put(KEY, tokens(), T0);
    expect(await b.links.get(KEY)).toMatchObject({ version: 1 });
    expect(await b.links.claimLease(KEY, "b", 1000, null)).toMatchObject({ claimed: true, now: T0 });
    expect(await a.links.readLease(KEY)).toEqual({ owner: "b", until: T0 + 1000, generation: 1, now: T0 });
    t += 5;
    expect(a.database.clock.now()).toBe(T0 + 5);
    expect(await a.links.readLease(KEY)).toMatchObject({ now: T0 + 5 });
    expect(() => openMemoryStore({ database, clock: { now: () => 0 } })).toThrow(TypeError);
  });

  it("every method is synchronous inside: the write has happened before the promise is awaited", async () => {
    const store = openMemoryStore();
    const put = store.links.put(KEY, tokens(), T0);
    expect(store.database.links.size).toBe(1);
    await put;
  });

  it("refuses use after close; the database outlives its stores", async () => {
    const store = openMemoryStore();
    await store.links.put(KEY, tokens(), T0);
    await store.close();
    await expect(store.links.get(KEY)).rejects.toThrow(/closed/);
    expect(await openMemoryStore({ database: store.database }).links.count()).toBe(1);
  });
});
