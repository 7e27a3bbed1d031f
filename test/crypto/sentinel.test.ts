import { describe, expect, it, vi } from "vitest";
import {
  Keyring,
  KeyringError,
  checkKeyring,
  sealEnvelope,
  sealSentinel,
  valueAad,
  verifyKeyring,
  type SentinelStore,
  type StoredSentinel,
} from "../../src/crypto/index.js";
import { masterKey } from "./fixtures.js";

/** An in-memory SentinelStore whose put is a spy. */
function memoryStore(initial: StoredSentinel[] = []) {
  const rows = [...initial];
  const store = {
    rows,
    listSentinels: vi.fn(() => rows.map((r) => ({ ...r }))),
    putSentinel: vi.fn((keyId: string, envelope: Buffer, now: number) => {
      rows.push({ keyId, envelope, createdAt: now });
    }),
  };
  return store satisfies SentinelStore;
}

function keyringError(fn: () => unknown): KeyringError {
  try {
    fn();
  } catch (err) {
    expect(err).toBeInstanceOf(KeyringError);
    return err as KeyringError;
  }
  throw new Error("expected a KeyringError");
}

describe("verifyKeyring", () => {
  const [kOld, kNew, kOther] = [masterKey(), masterKey(), masterKey()];
  const ringOld = new Keyring([kOld]);
  const idOld = ringOld.active.id;
  const idNew = new Keyring([kNew]).active.id;
  const idOther = new Keyring([kOther]).active.id;

  it("accepts a brand-new store and records a sentinel for every key", () => {
    const store = memoryStore();
    const ring = new Keyring([kNew, kOld]);
    expect(verifyKeyring(ring, store, 1000)).toEqual({ verified: [], missing: [idNew, idOld], unknown: [] });
    expect(store.putSentinel).toHaveBeenCalledTimes(2);
    expect(store.rows.map((r) => [r.keyId, r.createdAt])).toEqual([
      [idNew, 1000],
      [idOld, 1000],
    ]);
    // Each sentinel is sealed under its own key, not the active one.
    for (const r of store.rows) expect(r.envelope.subarray(1, 5).toString("hex")).toBe(r.keyId);
    // And the next start verifies them all and writes nothing.
    store.putSentinel.mockClear();
    expect(verifyKeyring(ring, store, 2000)).toEqual({ verified: [idNew, idOld], missing: [], unknown: [] });
    expect(store.putSentinel).not.toHaveBeenCalled();
  });

  it("accepts the matching key and writes nothing", () => {
    const store = memoryStore();
    verifyKeyring(ringOld, store, 1);
    store.putSentinel.mockClear();
    expect(verifyKeyring(new Keyring([kOld]), store, 2)).toEqual({ verified: [idOld], missing: [], unknown: [] });
    expect(store.putSentinel).not.toHaveBeenCalled();
  });

  it("refuses a wrong key, naming the key id the store expects, and writes nothing", () => {
    const store = memoryStore();
    verifyKeyring(ringOld, store, 1);
    store.putSentinel.mockClear();
    const err = keyringError(() => verifyKeyring(new Keyring([kOther]), store, 2));
    expect(err.code).toBe("KEY_MISMATCH");
    expect(err.message).toContain(`the store's values are sealed under key(s) ${idOld}; the keyring has ${idOther}`);
    expect(err.message).toContain("nothing was modified");
    expect(store.putSentinel).not.toHaveBeenCalled();
    expect(store.rows).toHaveLength(1);
  });

  it("refuses a keyring from which the store's only key was removed too early", () => {
    const store = memoryStore();
    verifyKeyring(ringOld, store, 1);
    store.putSentinel.mockClear();
    const err = keyringError(() => verifyKeyring(new Keyring([kNew, kOther]), store, 2));
    expect(err.code).toBe("KEY_MISMATCH");
    expect(err.message).toContain(`sealed under key(s) ${idOld}; the keyring has ${idNew}, ${idOther}`);
    expect(store.putSentinel).not.toHaveBeenCalled();
  });

  it("on rotation (new active key + old key) adds a sentinel for the new key only", () => {
    const store = memoryStore();
    verifyKeyring(ringOld, store, 1);
    store.putSentinel.mockClear();
    const rotated = new Keyring([kNew, kOld]);
    expect(verifyKeyring(rotated, store, 5)).toEqual({ verified: [idOld], missing: [idNew], unknown: [] });
    expect(store.putSentinel).toHaveBeenCalledTimes(1);
    expect(store.putSentinel).toHaveBeenCalledWith(idNew, expect.any(Buffer), 5);
    expect(store.putSentinel.mock.calls[0]![1].subarray(1, 5).toString("hex")).toBe(idNew);
    // After the old key is retired, the new key alone is enough; the old
    // sentinel is reported as unknown rather than refused.
    store.putSentinel.mockClear();
    expect(verifyKeyring(new Keyring([kNew]), store, 9)).toEqual({ verified: [idNew], missing: [], unknown: [idOld] });
    expect(store.putSentinel).not.toHaveBeenCalled();
  });

  it("refuses a sentinel that its key does not open (altered), and writes nothing", () => {
    const good = sealSentinel(ringOld.active);
    const altered = Buffer.from(good);
    altered[altered.length - 1]! ^= 1;
    const store = memoryStore([{ keyId: idOld, envelope: altered, createdAt: 0 }]);
    const err = keyringError(() => verifyKeyring(new Keyring([kNew, kOld]), store, 2));
    expect(err.code).toBe("SENTINEL_INVALID");
    expect(err.message).toMatch(new RegExp(`^key ${idOld} does not open its sentinel: wrong key`));
    expect(store.putSentinel).not.toHaveBeenCalled();
  });

  it("refuses a sentinel stored under one key id but sealed under another", () => {
    const store = memoryStore([{ keyId: idOld, envelope: sealSentinel(new Keyring([kNew]).active), createdAt: 0 }]);
    const err = keyringError(() => verifyKeyring(new Keyring([kNew, kOld]), store, 2));
    expect(err.code).toBe("SENTINEL_INVALID");
    expect(store.putSentinel).not.toHaveBeenCalled();
  });

  it("refuses a sentinel that is not a sentinel (a value of the right key with another AAD) and garbage", () => {
    const lookalike = sealEnvelope(ringOld.active, Buffer.from("tokenbroker keyring sentinel v1"), valueAad({ table: "", column: "", providerId: "", userId: "" }));
    for (const envelope of [lookalike, Buffer.alloc(0), Buffer.from("not an envelope at all, not at all")]) {
      const store = memoryStore([{ keyId: idOld, envelope, createdAt: 0 }]);
      expect(keyringError(() => verifyKeyring(ringOld, store, 2)).code).toBe("SENTINEL_INVALID");
    }
  });

  it("checkKeyring never writes, even when keys are missing", () => {
    const store = memoryStore();
    expect(checkKeyring(new Keyring([kNew, kOld]), store)).toEqual({ verified: [], missing: [idNew, idOld], unknown: [] });
    expect(store.putSentinel).not.toHaveBeenCalled();
    // It needs only listSentinels.
    expect(checkKeyring(ringOld, { listSentinels: () => [] }).missing).toEqual([idOld]);
  });
});
