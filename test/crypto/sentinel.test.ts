import { describe, expect, it, vi } from "vitest";
import {
  Keyring,
  KeyringError,
  checkKeyring,
  sealEnvelope,
  sealSentinel,
  valueAad,
  verifyKeyring,
} from "../../src/crypto/index.js";
import type { KeySentinel, KeyringStore } from "../../src/store/keyring-store.js";
import { masterKey } from "./fixtures.js";

/** An in-memory sentinel part of a KeyringStore whose put is a spy. */
function memoryStore(initial: KeySentinel[] = []) {
  const rows = [...initial];
  const store = {
    rows,
    listSentinels: vi.fn(async () => rows.map((r) => ({ ...r }))),
    putSentinel: vi.fn(async (keyId: string, envelope: Uint8Array, now: number) => {
      rows.push({ keyId, envelope: Buffer.from(envelope), createdAt: now });
      return true;
    }),
  };
  return store satisfies Pick<KeyringStore, "listSentinels" | "putSentinel">;
}

async function keyringError(p: Promise<unknown>): Promise<KeyringError> {
  const err = await p.then(
    () => {
      throw new Error("expected a KeyringError");
    },
    (e: unknown) => e,
  );
  expect(err).toBeInstanceOf(KeyringError);
  return err as KeyringError;
}

describe("verifyKeyring", () => {
  const [kOld, kNew, kOther] = [masterKey(), masterKey(), masterKey()];
  const ringOld = new Keyring([kOld]);
  const idOld = ringOld.active.id;
  const idNew = new Keyring([kNew]).active.id;
  const idOther = new Keyring([kOther]).active.id;

  it("accepts a brand-new store and records a sentinel for every key", async () => {
    const store = memoryStore();
    const ring = new Keyring([kNew, kOld]);
    expect(await verifyKeyring(ring, store, 1000)).toEqual({ verified: [], missing: [idNew, idOld], unknown: [] });
    expect(store.putSentinel).toHaveBeenCalledTimes(2);
    expect(store.rows.map((r) => [r.keyId, r.createdAt])).toEqual([
      [idNew, 1000],
      [idOld, 1000],
    ]);
    // Each sentinel is sealed under its own key, not the active one.
    for (const r of store.rows) expect(r.envelope.subarray(1, 5).toString("hex")).toBe(r.keyId);
    // And the next start verifies them all and writes nothing.
    store.putSentinel.mockClear();
    expect(await verifyKeyring(ring, store, 2000)).toEqual({ verified: [idNew, idOld], missing: [], unknown: [] });
    expect(store.putSentinel).not.toHaveBeenCalled();
  });

  it("accepts the matching key and writes nothing", async () => {
    const store = memoryStore();
    await verifyKeyring(ringOld, store, 1);
    store.putSentinel.mockClear();
    expect(await verifyKeyring(new Keyring([kOld]), store, 2)).toEqual({ verified: [idOld], missing: [], unknown: [] });
    expect(store.putSentinel).not.toHaveBeenCalled();
  });

  it("refuses a wrong key, naming the key id the store expects, and writes nothing", async () => {
    const store = memoryStore();
    await verifyKeyring(ringOld, store, 1);
    store.putSentinel.mockClear();
    const err = await keyringError(verifyKeyring(new Keyring([kOther]), store, 2));
    expect(err.code).toBe("KEY_MISMATCH");
    expect(err.message).toContain(`the store's values are sealed under key(s) ${idOld}; the keyring has ${idOther}`);
    expect(err.message).toContain("nothing was modified");
    expect(store.putSentinel).not.toHaveBeenCalled();
    expect(store.rows).toHaveLength(1);
  });

  it("refuses a keyring from which the store's only key was removed too early", async () => {
    const store = memoryStore();
    await verifyKeyring(ringOld, store, 1);
    store.putSentinel.mockClear();
    const err = await keyringError(verifyKeyring(new Keyring([kNew, kOther]), store, 2));
    expect(err.code).toBe("KEY_MISMATCH");
    expect(err.message).toContain(`sealed under key(s) ${idOld}; the keyring has ${idNew}, ${idOther}`);
    expect(store.putSentinel).not.toHaveBeenCalled();
  });

  it("on rotation (new active key + old key) adds a sentinel for the new key only", async () => {
    const store = memoryStore();
    await verifyKeyring(ringOld, store, 1);
    store.putSentinel.mockClear();
    const rotated = new Keyring([kNew, kOld]);
    expect(await verifyKeyring(rotated, store, 5)).toEqual({ verified: [idOld], missing: [idNew], unknown: [] });
    expect(store.putSentinel).toHaveBeenCalledTimes(1);
    expect(store.putSentinel).toHaveBeenCalledWith(idNew, expect.any(Buffer), 5);
    expect(Buffer.from(store.putSentinel.mock.calls[0]![1]).subarray(1, 5).toString("hex")).toBe(idNew);
    // After the old key is retired, the new key alone is enough; the old
    // sentinel is reported as unknown rather than refused.
    store.putSentinel.mockClear();
    expect(await verifyKeyring(new Keyring([kNew]), store, 9)).toEqual({ verified: [idNew], missing: [], unknown: [idOld] });
    expect(store.putSentinel).not.toHaveBeenCalled();
  });

  it("refuses a sentinel that its key does not open (altered), and writes nothing", async () => {
    const good = sealSentinel(ringOld.active);
    const altered = Buffer.from(good);
    altered[altered.length - 1]! ^= 1;
    const store = memoryStore([{ keyId: idOld, envelope: altered, createdAt: 0 }]);
    const err = await keyringError(verifyKeyring(new Keyring([kNew, kOld]), store, 2));
    expect(err.code).toBe("SENTINEL_INVALID");
    expect(err.message).toMatch(new RegExp(`^key ${idOld} does not open its sentinel: wrong key`));
    expect(store.putSentinel).not.toHaveBeenCalled();
  });

  it("refuses a sentinel stored under one key id but sealed under another", async () => {
    const store = memoryStore([{ keyId: idOld, envelope: sealSentinel(new Keyring([kNew]).active), createdAt: 0 }]);
    const err = await keyringError(verifyKeyring(new Keyring([kNew, kOld]), store, 2));
    expect(err.code).toBe("SENTINEL_INVALID");
    expect(store.putSentinel).not.toHaveBeenCalled();
  });

  it("refuses a sentinel that is not a sentinel (a value of the right key with another AAD) and garbage", async () => {
    const lookalike = sealEnvelope(ringOld.active, Buffer.from("tokenbroker keyring sentinel v1"), valueAad({ table: "", column: "", providerId: "", userId: "" }));
    for (const envelope of [lookalike, Buffer.alloc(0), Buffer.from("not an envelope at all, not at all")]) {
      const store = memoryStore([{ keyId: idOld, envelope, createdAt: 0 }]);
      expect((await keyringError(verifyKeyring(ringOld, store, 2))).code).toBe("SENTINEL_INVALID");
    }
  });

  it("checkKeyring never writes, even when keys are missing", async () => {
    const store = memoryStore();
    expect(await checkKeyring(new Keyring([kNew, kOld]), store)).toEqual({ verified: [], missing: [idNew, idOld], unknown: [] });
    expect(store.putSentinel).not.toHaveBeenCalled();
    // It needs only listSentinels.
    expect((await checkKeyring(ringOld, { listSentinels: async () => [] })).missing).toEqual([idOld]);
  });
});
