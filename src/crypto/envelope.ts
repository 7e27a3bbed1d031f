import { createCipheriv, createDecipheriv, randomBytes } from "node:crypto";
import { KEY_ID_BYTES, formatKeyId } from "./key-id.js";
import type { DataKey } from "./keyring.js";
import { DecryptError } from "./sealer.js";

/**
 * The at-rest format of one sealed value:
 *
 *   offset 0   version   1 byte   0x01
 *   offset 1   key id    4 bytes  which master key sealed it (see key-id.ts)
 *   offset 5   nonce    12 bytes  random per value
 *   offset 17  ciphertext         same length as the plaintext
 *   end-16     tag      16 bytes  GCM authentication tag
 *
 * GCM authenticates header ‖ caller AAD, so the version and key id cannot be
 * altered either. Random 96-bit nonces are safe up to 2^32 seals per key
 * (NIST SP 800-38D §8.3); a token store stays many orders of magnitude below.
 */
export const ENVELOPE_VERSION = 0x01;
export const NONCE_BYTES = 12;
export const TAG_BYTES = 16;
export const HEADER_BYTES = 1 + KEY_ID_BYTES + NONCE_BYTES;
/** An envelope of an empty plaintext; anything shorter is malformed. */
export const MIN_ENVELOPE_BYTES = HEADER_BYTES + TAG_BYTES;

const ALGORITHM = "aes-256-gcm";
/** The authenticated prefix of the header: version ‖ key id (the nonce is authenticated by GCM itself). */
const LABEL_BYTES = 1 + KEY_ID_BYTES;

/** Resolves a key id (8 hex chars) from an envelope header to a key, or undefined if unknown. */
export type KeyLookup = (keyId: string) => DataKey | undefined;

export function sealEnvelope(key: DataKey, plaintext: Buffer, aad: Buffer): Buffer {
  const out = Buffer.allocUnsafe(HEADER_BYTES + plaintext.length + TAG_BYTES);
  out[0] = ENVELOPE_VERSION;
  key.idBytes.copy(out, 1);
  const nonce = randomBytes(NONCE_BYTES);
  nonce.copy(out, 1 + KEY_ID_BYTES);
  const cipher = createCipheriv(ALGORITHM, key.encryptionKey, nonce, { authTagLength: TAG_BYTES });
  cipher.setAAD(Buffer.concat([out.subarray(0, LABEL_BYTES), aad]));
  let at = HEADER_BYTES;
  at += cipher.update(plaintext).copy(out, at);
  at += cipher.final().copy(out, at);
  cipher.getAuthTag().copy(out, at);
  return out;
}

/**
 * Opens an envelope with the key its header names. Every failure (malformed,
 * unknown version, unknown key, failed authentication) is a DecryptError whose
 * message names the key id when one could be read, and never any plaintext.
 */
export function openEnvelope(keyLookup: KeyLookup, envelope: Uint8Array, aad: Buffer): Buffer {
  const env = asBuffer(envelope);
  const keyId = keyIdOfEnvelope(env);
  const key = keyLookup(keyId);
  if (key === undefined) {
    throw new DecryptError(`value is sealed under key ${keyId}, which is not in the keyring`, keyId);
  }
  const nonce = env.subarray(1 + KEY_ID_BYTES, HEADER_BYTES);
  const ciphertext = env.subarray(HEADER_BYTES, env.length - TAG_BYTES);
  const tag = env.subarray(env.length - TAG_BYTES);
  try {
    // authTagLength pins the tag size: on Node 20 without it, setAuthTag
    // accepts a truncated tag (DEP0182 is documentation-only there), which
    // makes forgeries cheap. The length check above already guarantees 16.
    const decipher = createDecipheriv(ALGORITHM, key.encryptionKey, nonce, { authTagLength: TAG_BYTES });
    decipher.setAAD(Buffer.concat([env.subarray(0, LABEL_BYTES), aad]));
    decipher.setAuthTag(tag);
    return Buffer.concat([decipher.update(ciphertext), decipher.final()]);
  } catch {
    // node:crypto only says "Unsupported state or unable to authenticate
    // data"; GCM cannot tell a wrong key from tampering or a moved value, so
    // the message lists all three. No cause is kept: nothing to add, and
    // nothing else can slip into logs through it.
    throw new DecryptError(
      `value sealed under key ${keyId} failed authentication: wrong key, altered, or moved from another row or column`,
      keyId,
    );
  }
}

/**
 * The key id an envelope was sealed under, from its header alone (no
 * decryption). Validates the length and version first, so a malformed value is
 * reported as such rather than as an unknown key.
 */
export function keyIdOfEnvelope(envelope: Uint8Array): string {
  const env = asBuffer(envelope);
  if (env.length < MIN_ENVELOPE_BYTES) {
    throw new DecryptError(`malformed envelope: ${env.length} bytes, shorter than the minimum ${MIN_ENVELOPE_BYTES}`);
  }
  if (env[0] !== ENVELOPE_VERSION) {
    throw new DecryptError(`malformed envelope: unknown format version ${env[0]}`);
  }
  return formatKeyId(env.subarray(1, 1 + KEY_ID_BYTES));
}

/** A Buffer view of the same memory (SQLite drivers hand back Buffers, protobuf Uint8Arrays). */
function asBuffer(u: Uint8Array): Buffer {
  if (!(u instanceof Uint8Array)) throw new DecryptError("malformed envelope: not bytes");
  return Buffer.isBuffer(u) ? u : Buffer.from(u.buffer, u.byteOffset, u.byteLength);
}
