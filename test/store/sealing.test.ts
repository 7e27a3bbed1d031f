import { describe, expect, it } from "vitest";
import { DecryptError } from "../../src/crypto/sealer.js";
import { UNREADABLE_KEY_ID, type KeyringStore } from "../../src/store/keyring-store.js";
import { FakeSealer } from "./fake-sealer.js";
import { T0, tokens, useTempStores } from "./helpers.js";

const t = useTempStores();

const alice = { providerId: "github", userId: "alice" };
const bob = { providerId: "github", userId: "bob" };
const carol = { providerId: "gitlab", userId: "carol" };

describe("decrypt failures", () => {
  it.each(["access_token", "refresh_token", "extra"])("a tampered %s fails get() for that row only", async (column) => {
    const path = t.dbPath();
    const store = t.links(path);
    for (const key of [alice, bob, carol]) await store.put(key, tokens({ accessToken: `at-${key.userId}` }), T0);

    const raw = t.raw(path);
    const blob = raw.prepare(`SELECT ${column} FROM links WHERE user_id = 'bob'`).pluck().get() as Buffer;
    const flipped = Buffer.from(blob);
    const at = flipped.length - 20;
    flipped[at] = (flipped[at] ?? 0) ^ 0x01;
    raw.prepare(`UPDATE links SET ${column} = ? WHERE user_id = 'bob'`).run(flipped);

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
    const path = t.dbPath();
    const store = t.links(path);
    await store.put(alice, tokens(), T0);
    t.raw(path).prepare("UPDATE links SET access_token = refresh_token").run();
    await expect(store.get(alice)).rejects.toBeInstanceOf(DecryptError);
  });

  it("a missing key fails get() with DecryptError naming the key", async () => {
    const path = t.dbPath();
    await t.links(path, new FakeSealer(["old"])).put(alice, tokens(), T0);
    const store = t.links(path, new FakeSealer(["new"]));
    await expect(store.get(alice)).rejects.toMatchObject({ name: "DecryptError", keyId: "old" });
  });
});

describe("KeyringStore", () => {
  it("keeps the first sentinel per key id", async () => {
    const keyring: KeyringStore = t.open(t.dbPath()).keyring;
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
    const path = t.dbPath();
    const first = t.open(path);
    await first.keyring.putSentinel("k1", Buffer.from("s"), T0);
    await first.close();
    expect(await t.open(path).keyring.listSentinels()).toHaveLength(1);
  });

  it("counts sealed values per key id from envelope headers, without decrypting", async () => {
    const path = t.dbPath();
    const old = t.links(path, new FakeSealer(["k1"]));
    await old.put(alice, tokens(), T0); // access, refresh, extra: 3 under k1
    await old.put(bob, tokens({ extra: {} }), T0); // access, refresh: 2 under k1
    const sealer = new FakeSealer(["k2", "k1"]);
    const store = t.open(path, sealer);
    await store.links.put(carol, tokens({ refreshToken: "" }), T0); // access, extra: 2 under k2
    await store.links.recordFailure(bob, "rt-1", "invalid_grant", T0 + 1); // bob: -refresh(k1), +reason(k2)
    // alice refreshed under k2 without a new refresh token: access and extra move, refresh stays k1.
    await store.links.commitRefresh(alice, { version: 1, refreshToken: "rt-1" }, { accessToken: "a2", tokenType: "Bearer", expiresAt: null, extra: { x: "y" } }, T0 + 2);
    t.raw(path).prepare("INSERT INTO links (provider_id, user_id, version, access_token, token_type, created_at, updated_at) VALUES ('x', 'y', 1, x'00', 'Bearer', 0, 0)").run();

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
