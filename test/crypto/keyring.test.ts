import { createHash, hkdfSync } from "node:crypto";
import { describe, expect, it } from "vitest";
import { Keyring } from "../../src/crypto/index.js";
import { keyringError, masterKey } from "./fixtures.js";

/** Deterministic keys; 51020 and 125406 were found by a birthday search to share a 32-bit key id. */
function numberedKey(n: number): Buffer {
  const key = Buffer.alloc(32);
  key[0] = 1;
  key.writeUInt32BE(n, 28);
  return key;
}

describe("Keyring", () => {
  it("makes the first key active and keeps the order", () => {
    const [a, b, c] = [masterKey(), masterKey(), masterKey()];
    const ring = new Keyring([a, b, c]);
    expect(ring.keys).toHaveLength(3);
    expect(ring.active).toBe(ring.keys[0]);
    expect(ring.keyIds).toEqual(ring.keys.map((k) => k.id));
    for (const k of ring.keys) expect(ring.get(k.id)).toBe(k);
    expect(ring.get("00000000")).toBeUndefined();
    expect(ring.has(ring.active.id)).toBe(true);
  });

  it("derives the key id from a labelled hash of the key: 8 hex chars, stable across keyrings", () => {
    const k = masterKey();
    const expected = createHash("sha256").update("tokenbroker key id").update(k).digest().subarray(0, 4).toString("hex");
    expect(new Keyring([k]).active.id).toBe(expected);
    expect(new Keyring([masterKey(), k]).keys[1]!.id).toBe(expected);
    expect(new Keyring([k]).active.idBytes.toString("hex")).toBe(expected);
  });

  it("never uses the master key directly: distinct HKDF keys for sealing and digests", () => {
    const k = masterKey();
    const { encryptionKey, digestKey } = new Keyring([k]).active;
    const enc = encryptionKey.export();
    const mac = digestKey.export();
    expect(enc).toHaveLength(32);
    expect(mac).toHaveLength(32);
    expect(enc.equals(k)).toBe(false);
    expect(mac.equals(k)).toBe(false);
    expect(enc.equals(mac)).toBe(false);
    // Pin the derivation: changing it would make every stored value unreadable.
    expect(enc).toEqual(Buffer.from(hkdfSync("sha256", k, Buffer.alloc(0), "tokenbroker/v1 aes-256-gcm value key", 32)));
    expect(mac).toEqual(Buffer.from(hkdfSync("sha256", k, Buffer.alloc(0), "tokenbroker/v1 hmac-sha256 digest key", 32)));
  });

  it("rejects an empty keyring", () => {
    expect(keyringError(() => new Keyring([])).code).toBe("KEYS_EMPTY");
  });

  it.each([0, 16, 31, 33, 64])("rejects a %i-byte key", (n) => {
    const err = keyringError(() => new Keyring([masterKey(), Buffer.alloc(n, 7)]));
    expect(err.code).toBe("KEYS_MALFORMED");
    expect(err.message).toBe(`key 2: expected 32 bytes, got ${n} bytes`);
  });

  it("rejects the same key twice", () => {
    const k = masterKey();
    const err = keyringError(() => new Keyring([k, masterKey(), Buffer.from(k)]));
    expect(err.code).toBe("KEYS_DUPLICATE");
    expect(err.message).toMatch(/^keys 1 and 3 are the same key \([0-9a-f]{8}\)$/);
  });

  it("rejects two distinct keys whose key ids collide", () => {
    const [a, b] = [numberedKey(51020), numberedKey(125406)];
    expect(a.equals(b)).toBe(false);
    const id = new Keyring([a]).active.id;
    expect(new Keyring([b]).active.id).toBe(id);
    const err = keyringError(() => new Keyring([a, b]));
    expect(err.code).toBe("KEYS_DUPLICATE");
    expect(err.message).toBe(`keys 1 and 2 have the same key id ${id}; generate a new key`);
  });
});
