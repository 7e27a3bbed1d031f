import { createHash } from "node:crypto";

/**
 * Key ids let an envelope name the key that sealed it, so decryption never has
 * to try every key and rotation can count values per key. The id is a hash of
 * the master key (not a counter) so the same key always has the same id on
 * every host, and a wrong key is recognisable as "some other key" without the
 * store holding anything secret. 32 bits: plenty to tell a handful of keys
 * apart (collisions are rejected when the keyring is built), and not a
 * meaningful leak, since the master key is 256 random bits.
 */
export const KEY_ID_BYTES = 4;

/** Domain separation: this hash must never equal any other use of SHA-256 over the key. */
const KEY_ID_LABEL = Buffer.from("tokenbroker key id", "utf8");

export function deriveKeyId(masterKey: Uint8Array): Buffer {
  return createHash("sha256").update(KEY_ID_LABEL).update(masterKey).digest().subarray(0, KEY_ID_BYTES);
}

/** The form people see and that digests and the store carry: 8 lowercase hex characters. */
export function formatKeyId(idBytes: Uint8Array): string {
  return Buffer.from(idBytes.buffer, idBytes.byteOffset, idBytes.byteLength).toString("hex");
}

