import { describe, expect, it } from "vitest";
import { DecryptError } from "../../../src/crypto/sealer.js";
import { FakeSealer } from "../fake-sealer.js";
import { T0, tokens } from "../helpers.js";
import type { StoreFactory } from "./factory.js";

const alice = { providerId: "github", userId: "alice" };
const bob = { providerId: "github", userId: "bob" };
const carol = { providerId: "gitlab", userId: "carol" };

/** Sealing at rest and decrypt failures, for any store (key sentinels, the census and re-sealing: keyring.ts). */
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
}
