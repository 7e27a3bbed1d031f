import { describe, expect, it } from "vitest";
import { DecryptError } from "../../../src/crypto/sealer.js";
import { UNREADABLE_KEY_ID, type KeyringStore } from "../../../src/store/keyring-store.js";
import { FakeSealer } from "../fake-sealer.js";
import { T0, tokens } from "../helpers.js";
import type { StoreFactory } from "./factory.js";

const alice = { providerId: "github", userId: "alice" };
const bob = { providerId: "github", userId: "bob" };
const carol = { providerId: "gitlab", userId: "carol" };

const keyIdOf = (v: unknown): string => new FakeSealer().keyIdOf(v as Buffer);

/** Key sentinels, the census of sealed values per key id and re-sealing (KeyringStore), for any store. */
export function keyringContract(f: StoreFactory): void {
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

  describe(`${f.name}: KeyringStore re-sealing`, () => {
    it("re-seals every value not under the active key, a batch at a time in key order, leaving versions and plaintext", async () => {
      const db = await f.fresh();
      const old = await db.links(new FakeSealer(["k1"]));
      for (const key of [alice, bob, carol]) await old.put(key, tokens({ accessToken: `at-${key.userId}` }), T0);
      expect(await old.recordFailure(bob, "rt-1", "invalid_grant", T0 + 1)).toBe(true);
      const before = await Promise.all([alice, bob, carol].map((k) => old.get(k)));

      const rotated = await db.open(new FakeSealer(["k2", "k1"]));
      expect(await rotated.keyring.reseal(undefined, 2)).toEqual({ resealed: 2, scanned: 2, next: bob });
      expect(await rotated.keyring.countByKeyId()).toEqual(new Map([["k1", 3], ["k2", 6]]));
      expect(await rotated.keyring.reseal(bob, 2)).toEqual({ resealed: 1, scanned: 1, next: undefined });
      expect(await rotated.keyring.countByKeyId()).toEqual(new Map([["k2", 9]]));
      // Everything is current now: scanned, nothing re-sealed.
      expect(await rotated.keyring.reseal(undefined, 10)).toEqual({ resealed: 0, scanned: 3, next: undefined });

      const onlyNew = await db.links(new FakeSealer(["k2"]));
      expect(await Promise.all([alice, bob, carol].map((k) => onlyNew.get(k)))).toEqual(before);
      const digests = (await db.raw.select(["refresh_token_digest"])).map((r) => r["refresh_token_digest"]);
      expect(digests).toEqual([new FakeSealer(["k2"]).digest("rt-1"), null, new FakeSealer(["k2"]).digest("rt-1")]);
    });

    it("a refresh that read the row before the re-seal still commits (the CAS compares plaintext through the digest)", async () => {
      const db = await f.fresh();
      await (await db.links(new FakeSealer(["k1"]))).put(alice, tokens(), T0);
      const reader = await db.links(new FakeSealer(["k2", "k1"]));
      const read = await reader.get(alice);
      if (read === undefined) throw new Error("expected the link");
      const rotated = await db.open(new FakeSealer(["k2", "k1"]));
      expect(await rotated.keyring.reseal(undefined, 10)).toMatchObject({ resealed: 1 });
      await db.settle(reader);
      expect(await reader.commitRefresh(alice, { version: read.version, refreshToken: "rt-1" }, tokens({ refreshToken: "rt-2" }), T0 + 1)).toMatchObject({ version: 2 });
    });

    it("re-seals every pending flow with the first batch", async () => {
      const db = await f.fresh();
      const old = await db.open(new FakeSealer(["k1"]));
      await old.flows.createAuthFlow({ stateHash: "s", ...alice, codeVerifier: "v", redirectAfter: null, createdAt: T0, expiresAt: T0 + 1000 });
      await old.flows.createDeviceFlow({ sessionHash: "d", ...alice, deviceCode: "dc", intervalMs: 5, nextPollAt: T0, createdAt: T0, expiresAt: T0 + 1000 });
      const rotated = await db.open(new FakeSealer(["k2", "k1"]));
      expect(await rotated.keyring.reseal(undefined, 10)).toEqual({ resealed: 0, scanned: 0, next: undefined });
      expect(keyIdOf((await db.raw.select(["code_verifier"], {}, "auth_flows"))[0]?.["code_verifier"])).toBe("k2");
      expect(keyIdOf((await db.raw.select(["device_code"], {}, "device_flows"))[0]?.["device_code"])).toBe("k2");
      const onlyNew = await db.open(new FakeSealer(["k2"]));
      expect(await onlyNew.flows.getDeviceFlow("d")).toMatchObject({ deviceCode: "dc" });
      expect(await onlyNew.flows.takeAuthFlow("s", T0)).toMatchObject({ codeVerifier: "v" });
    });

    it("a value that fails to open stops the batch with DecryptError and re-seals nothing of it", async () => {
      const db = await f.fresh();
      const old = await db.links(new FakeSealer(["k1"]));
      for (const key of [alice, bob]) await old.put(key, tokens(), T0);
      await db.raw.update({ extra: Buffer.from([0xfa, 2, 0x6b, 0x31, 0]) }, { user_id: "bob" });
      const before = await db.raw.select("*");
      const rotated = await db.open(new FakeSealer(["k2", "k1"]));
      await expect(rotated.keyring.reseal(undefined, 10)).rejects.toBeInstanceOf(DecryptError);
      expect(await db.raw.select("*")).toEqual(before);
    });
  });
}
