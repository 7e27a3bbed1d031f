import { describe, expect, it } from "vitest";
import { DecryptError } from "../../../src/crypto/sealer.js";
import { UNREADABLE_KEY_ID, type KeyringStore } from "../../../src/store/keyring-store.js";
import { FakeSealer } from "../fake-sealer.js";
import { T0, tokens } from "../helpers.js";
import type { StoreFactory } from "./factory.js";

const alice = { providerId: "github", userId: "alice" };
const bob = { providerId: "github", userId: "bob" };
const carol = { providerId: "gitlab", userId: "carol" };

/** Sealing at rest, decrypt failures, key sentinels and the census, for any store. */
export function sealingContract(f: StoreFactory): void {
  describe(`${f.name}: decrypt failures`, () => {
    it.each(["access_token", "refresh_token", "extra"])("a tampered %s fails get() for that row only", async (column) => {
      const db = await f.fresh();
      const store = await db.links();
      for (const key of [alice, bob, carol]) await store.put(key, tokens({ accessToken: `at-${key.userId}` }), T0);

      const blob = (await db.raw.select([column], { user_id: "bob" }))[0]?.[column] as Buffer;
      const flipped = Buffer.from(blob);
      const at = flipped.length - 20;
      flipped[at] = (flipped[at] ?? 0) ^ 0x01;
      await db.raw.update({ [column]: flipped }, { user_id: "bob" });

      const err: unknown = await store.get(bob).catch((e: unknown) => e);
      expect(err).toBeInstanceOf(DecryptError);
      expect((err as DecryptError).keyId).toBe("k1");
      expect((await store.get(alice))?.accessToken).toBe("at-alice");
      expect((await store.get(carol))?.accessToken).toBe("at-carol");
      expect(await store.list({ limit: 10 })).toHaveLength(3);

      // delete opens first: the unreadable row stays.
      await expect(store.delete(bob)).rejects.toBeInstanceOf(DecryptError);
      expect(await store.count()).toBe(3);
    });

    it("a value sealed for another column fails to open", async () => {
      const db = await f.fresh();
      const store = await db.links();
      await store.put(alice, tokens(), T0);
      await db.raw.update({ access_token: { copyOf: "refresh_token" } });
      await expect(store.get(alice)).rejects.toBeInstanceOf(DecryptError);
    });

    it("a missing key fails get() with DecryptError naming the key", async () => {
      const db = await f.fresh();
      await (await db.links(new FakeSealer(["old"]))).put(alice, tokens(), T0);
      const store = await db.links(new FakeSealer(["new"]));
      await expect(store.get(alice)).rejects.toMatchObject({ name: "DecryptError", keyId: "old" });
    });
  });

  describe(`${f.name}: KeyringStore`, () => {
    it("keeps the first sentinel per key id", async () => {
      const keyring: KeyringStore = (await (await f.fresh()).open()).keyring;
      expect(await keyring.listSentinels()).toEqual([]);
      expect(await keyring.putSentinel("k1", Buffer.from("one"), T0)).toBe(true);
      expect(await keyring.putSentinel("k2", new Uint8Array([1, 2, 3]), T0 + 5)).toBe(true);
      expect(await keyring.putSentinel("k1", Buffer.from("replacement"), T0 + 9)).toBe(false);
      expect(await keyring.listSentinels()).toEqual([
        { keyId: "k1", envelope: Buffer.from("one"), createdAt: T0 },
        { keyId: "k2", envelope: Buffer.from([1, 2, 3]), createdAt: T0 + 5 },
      ]);
    });

    it("sentinels survive re-opening", async () => {
      const db = await f.fresh();
      const first = await db.open();
      await first.keyring.putSentinel("k1", Buffer.from("s"), T0);
      await first.close();
      expect(await (await db.open()).keyring.listSentinels()).toHaveLength(1);
    });

    it("counts sealed values per key id from envelope headers, without decrypting", async () => {
      const db = await f.fresh();
      const old = await db.links(new FakeSealer(["k1"]));
      await old.put(alice, tokens(), T0); // access, refresh, extra: 3 under k1
      await old.put(bob, tokens({ extra: {} }), T0); // access, refresh: 2 under k1
      const sealer = new FakeSealer(["k2", "k1"]);
      const store = await db.open(sealer);
      await store.links.put(carol, tokens({ refreshToken: "" }), T0); // access, extra: 2 under k2
      await store.links.recordFailure(bob, "rt-1", "invalid_grant", T0 + 1); // bob: -refresh(k1), +reason(k2)
      // alice refreshed under k2 without a new refresh token: access and extra move, refresh stays k1.
      await store.links.commitRefresh(alice, { version: 1, refreshToken: "rt-1" }, { accessToken: "a2", tokenType: "Bearer", expiresAt: null, extra: { x: "y" } }, T0 + 2);
      await db.raw.insertLink({ provider_id: "x", user_id: "y", version: 1, access_token: Buffer.from([0]), token_type: "Bearer", created_at: 0, updated_at: 0 });

      const opens = sealer.calls.open;
      expect(await store.keyring.countByKeyId()).toEqual(
        new Map([
          ["k1", 2], // alice refresh, bob access
          ["k2", 5], // alice access+extra, bob reason, carol access+extra
          [UNREADABLE_KEY_ID, 1],
        ]),
      );
      expect(sealer.calls.open).toBe(opens);
    });
  });
}
