import { describe, expect, it } from "vitest";
import { FakeSealer } from "../fake-sealer.js";
import { KEY, T0, tokens } from "../helpers.js";
import type { StoreFactory, TestDatabase } from "./factory.js";

interface RawLink {
  access_token: Buffer | null;
  refresh_token: Buffer | null;
  refresh_token_digest: string | null;
  extra: Buffer | null;
  failure_reason: Buffer | null;
  expires_at: number | null;
  version: number;
  created_at: number;
  updated_at: number;
}

async function rawRow(db: TestDatabase): Promise<RawLink> {
  return (await db.raw.link(KEY)) as unknown as RawLink;
}

/** put, get, delete and argument checks, for any LinkStore. */
export function linkStoreContract(f: StoreFactory): void {
  describe(`${f.name}: LinkStore put/get`, () => {
    it("round-trips a full record and stores only sealed bytes", async () => {
      const db = await f.fresh();
      const store = await db.links();
      const put = await store.put(KEY, tokens({ extra: { scope: "repo", id_token: "eyJ" } }), T0);
      expect(put).toEqual({
        ...KEY,
        version: 1,
        accessToken: "at-1",
        tokenType: "Bearer",
        refreshToken: "rt-1",
        expiresAt: T0 + 3_600_000,
        extra: { scope: "repo", id_token: "eyJ" },
        refreshFailure: null,
        createdAt: T0,
        updatedAt: T0,
        lastRefreshedAt: null,
        account: null,
        grantedScopes: null,
      });
      expect(await store.get(KEY)).toEqual(put);

      const raw = await rawRow(db);
      for (const col of [raw.access_token, raw.refresh_token, raw.extra]) {
        expect(Buffer.isBuffer(col)).toBe(true);
        const text = col!.toString("latin1");
        expect(text).not.toContain("at-1");
        expect(text).not.toContain("rt-1");
        expect(text).not.toContain("repo");
      }
      expect(raw.refresh_token_digest).toBe(new FakeSealer().digest("rt-1"));
      expect(raw.failure_reason).toBeNull();
    });

    it("stores NULL for no refresh token, empty extra and no expiry", async () => {
      const db = await f.fresh();
      const sealer = new FakeSealer();
      const store = await db.links(sealer);
      const rec = await store.put(KEY, { ...tokens({ expiresAt: null, extra: {} }), refreshToken: null }, T0);
      expect(rec.refreshToken).toBeNull();
      expect(rec.expiresAt).toBeNull();
      expect(rec.extra).toEqual({});
      expect(sealer.calls.seal).toBe(1); // the access token only

      const raw = await rawRow(db);
      expect(raw.refresh_token).toBeNull();
      expect(raw.refresh_token_digest).toBeNull();
      expect(raw.extra).toBeNull();
      expect(raw.expires_at).toBeNull();
      expect(await store.get(KEY)).toEqual(rec);

      // An empty refresh token is the same as none: NULL, never an encrypted "".
      await store.put(KEY, tokens({ refreshToken: "" }), T0 + 1);
      expect((await rawRow(db)).refresh_token).toBeNull();
      expect((await store.get(KEY))?.refreshToken).toBeNull();
    });

    it("returns undefined for a missing link", async () => {
      const store = await (await f.fresh()).links();
      expect(await store.get(KEY)).toBeUndefined();
      expect(await store.delete(KEY)).toBeUndefined();
    });

    it("put replaces: version+1, created_at kept, failure cleared", async () => {
      const db = await f.fresh();
      const store = await db.links();
      await store.put(KEY, tokens(), T0);
      expect(await store.recordFailure(KEY, "rt-1", "invalid_grant", T0 + 2)).toBe(true);

      const replaced = await store.put(KEY, tokens({ accessToken: "at-2", refreshToken: "rt-2", extra: {} }), T0 + 10);
      expect(replaced).toMatchObject({ version: 3, createdAt: T0, updatedAt: T0 + 10, refreshFailure: null });
      expect(replaced.extra).toEqual({});
      expect(await store.get(KEY)).toEqual(replaced);
      expect((await rawRow(db)).failure_reason).toBeNull();
      expect((await rawRow(db)).extra).toBeNull();
    });

    it("binds sealed values to their row: a value copied to another row fails to open", async () => {
      const db = await f.fresh();
      const store = await db.links();
      const bob = { providerId: "github", userId: "bob" };
      await store.put(KEY, tokens(), T0);
      await store.put(bob, tokens({ accessToken: "bob-at" }), T0);
      await db.raw.update({ access_token: { copyOf: "access_token", from: { user_id: "alice" } } }, { user_id: "bob" });
      await expect(store.get(bob)).rejects.toMatchObject({ name: "DecryptError" });
      expect((await store.get(KEY))?.accessToken).toBe("at-1");
    });

    it("delete returns the opened record, then the row is gone", async () => {
      const store = await (await f.fresh()).links();
      const rec = await store.put(KEY, tokens(), T0);
      await store.put({ providerId: "gitlab", userId: "alice" }, tokens(), T0);
      expect(await store.count()).toBe(2);
      expect(await store.delete(KEY)).toEqual(rec);
      expect(await store.get(KEY)).toBeUndefined();
      expect(await store.count()).toBe(1);
    });

    it("rejects bad arguments without touching the database", async () => {
      const store = await (await f.fresh()).links();
      await expect(store.get({ providerId: "", userId: "u" })).rejects.toThrow(TypeError);
      await expect(store.put(KEY, tokens(), 1.5)).rejects.toThrow(RangeError);
      await expect(store.claimLease(KEY, "me", 0, null)).rejects.toThrow(RangeError);
      await expect(store.claimLease(KEY, "", 1000, null)).rejects.toThrow(TypeError);
      await expect(store.claimLease(KEY, "me", 1000, { owner: "x", generation: -1 })).rejects.toThrow(RangeError);
      await expect(store.claimLease(KEY, "me", 1000, null, { onlyIfExpired: "yes" as unknown as boolean })).rejects.toThrow(TypeError);
      await expect(store.confirmLease(KEY, { owner: "me", generation: 1 }, 1.5, 1000)).rejects.toThrow(RangeError);
      await expect(store.confirmLease(KEY, { owner: "me", generation: 1 }, 1, 1000, { mark: "sent" as "sending" })).rejects.toThrow(TypeError);
      await expect(store.releaseLease(KEY, { owner: "", generation: 1 })).rejects.toThrow(TypeError);
      await expect(store.list({ limit: -1 })).rejects.toThrow(RangeError);
      expect(await store.count()).toBe(0);
    });
  });
}
