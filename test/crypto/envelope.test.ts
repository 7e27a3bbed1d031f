import { describe, expect, it } from "vitest";
import { DecryptError, Keyring, keyIdOfEnvelope, openEnvelope, sealEnvelope } from "../../src/crypto/index.js";
import { HEADER_BYTES, MIN_ENVELOPE_BYTES, TAG_BYTES } from "../../src/crypto/envelope.js";
import { masterKey } from "./fixtures.js";

const ring = new Keyring([masterKey()]);
const key = ring.active;
const lookup = (id: string) => ring.get(id);
const aad = Buffer.from("context");
const plaintext = Buffer.from("a secret of forty bytes, give or take it");

function expectDecryptError(fn: () => unknown, pattern?: RegExp): DecryptError {
  let caught: unknown;
  try {
    fn();
  } catch (err) {
    caught = err;
  }
  expect(caught).toBeInstanceOf(DecryptError);
  const err = caught as DecryptError;
  if (pattern) expect(err.message).toMatch(pattern);
  // Never the plaintext, not even a piece of it.
  expect(err.message).not.toContain("secret");
  return err;
}

describe("envelope", () => {
  it("round-trips, with the documented layout", () => {
    const env = sealEnvelope(key, plaintext, aad);
    expect(env.length).toBe(HEADER_BYTES + plaintext.length + TAG_BYTES);
    expect(env[0]).toBe(0x01);
    expect(env.subarray(1, 5).toString("hex")).toBe(key.id);
    expect(keyIdOfEnvelope(env)).toBe(key.id);
    expect(openEnvelope(lookup, env, aad)).toEqual(plaintext);
  });

  it("round-trips an empty plaintext at the minimum length", () => {
    const env = sealEnvelope(key, Buffer.alloc(0), aad);
    expect(env.length).toBe(MIN_ENVELOPE_BYTES);
    expect(openEnvelope(lookup, env, aad)).toEqual(Buffer.alloc(0));
  });

  it("uses a fresh nonce every time", () => {
    const a = sealEnvelope(key, plaintext, aad);
    const b = sealEnvelope(key, plaintext, aad);
    expect(a.subarray(5, 17).equals(b.subarray(5, 17))).toBe(false);
    expect(a.equals(b)).toBe(false);
  });

  it("accepts a Uint8Array that is a view into a larger buffer", () => {
    const env = sealEnvelope(key, plaintext, aad);
    const backing = new Uint8Array(env.length + 10);
    backing.set(env, 7);
    expect(openEnvelope(lookup, backing.subarray(7, 7 + env.length), aad)).toEqual(plaintext);
  });

  it("fails with another AAD", () => {
    const env = sealEnvelope(key, plaintext, aad);
    expectDecryptError(() => openEnvelope(lookup, env, Buffer.from("contexT")), /failed authentication/);
    expectDecryptError(() => openEnvelope(lookup, env, Buffer.alloc(0)));
  });

  it("fails on a flipped bit anywhere: header, nonce, ciphertext, tag", () => {
    const env = sealEnvelope(key, plaintext, aad);
    for (let byte = 0; byte < env.length; byte++) {
      for (const bit of [0, 7]) {
        const bad = Buffer.from(env);
        bad[byte]! ^= 1 << bit;
        expectDecryptError(() => openEnvelope(lookup, bad, aad));
      }
    }
  });

  it("fails when the tag is truncated by 1 to 15 bytes", () => {
    const env = sealEnvelope(key, plaintext, aad);
    for (let drop = 1; drop <= 15; drop++) {
      expectDecryptError(() => openEnvelope(lookup, env.subarray(0, env.length - drop), aad));
    }
  });

  it("fails when truncated below the minimum length, before looking up a key", () => {
    const env = sealEnvelope(key, Buffer.alloc(0), aad);
    let lookups = 0;
    const counting = (id: string) => {
      lookups++;
      return ring.get(id);
    };
    for (let len = 0; len < MIN_ENVELOPE_BYTES; len++) {
      expectDecryptError(() => openEnvelope(counting, env.subarray(0, len), aad), /malformed envelope: \d+ bytes/);
      expectDecryptError(() => keyIdOfEnvelope(env.subarray(0, len)), /shorter than the minimum 33/);
    }
    expect(lookups).toBe(0);
  });

  it("rejects unknown format versions before decrypting", () => {
    const env = sealEnvelope(key, plaintext, aad);
    for (const v of [0x00, 0x02, 0xff]) {
      const bad = Buffer.from(env);
      bad[0] = v;
      expectDecryptError(() => openEnvelope(lookup, bad, aad), new RegExp(`unknown format version ${v}`));
      expectDecryptError(() => keyIdOfEnvelope(bad), /unknown format version/);
    }
  });

  it("names an unknown key id", () => {
    const other = new Keyring([masterKey()]);
    const env = sealEnvelope(other.active, plaintext, aad);
    const err = expectDecryptError(() => openEnvelope(lookup, env, aad), /not in the keyring/);
    expect(err.keyId).toBe(other.active.id);
    expect(err.message).toContain(other.active.id);
  });

  it("authenticates the key id in the header even if the lookup ignores it", () => {
    // A relabelled envelope must fail on the header binding alone: here the
    // lookup hands back the right key whatever id the header says.
    const env = sealEnvelope(key, plaintext, aad);
    const relabelled = Buffer.from(env);
    relabelled.write("deadbeef", 1, "hex");
    const err = expectDecryptError(() => openEnvelope(() => key, relabelled, aad), /failed authentication/);
    expect(err.keyId).toBe("deadbeef");
  });
});
