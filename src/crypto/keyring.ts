import { createSecretKey, hkdfSync, type KeyObject } from "node:crypto";
import { deriveKeyId, formatKeyId } from "./key-id.js";
import { KeyringError } from "./keyring-error.js";

/** Master keys are 32 random bytes (AES-256 strength). */
export const MASTER_KEY_BYTES = 32;

/**
 * What one master key yields. Held as KeyObjects rather than Buffers so that
 * logging, util.inspect or JSON.stringify of a keyring never prints key bytes.
 */
export interface DataKey {
  /** 8 hex characters, as shown to people and stored in digests and sentinels. */
  readonly id: string;
  /** The same id as the 4 bytes written into envelope headers. */
  readonly idBytes: Buffer;
  /** AES-256-GCM key for sealing values. */
  readonly encryptionKey: KeyObject;
  /** HMAC-SHA256 key for refresh-token digests. */
  readonly digestKey: KeyObject;
}

// Distinct HKDF info strings give independent keys for each purpose, so the
// master key is never used directly and an HMAC output can never help an
// attack on the cipher key (or the reverse). Changing these strings makes every
// stored value unreadable: they are part of the format.
const ENCRYPTION_INFO = "tokenbroker/v1 aes-256-gcm value key";
const DIGEST_INFO = "tokenbroker/v1 hmac-sha256 digest key";
// The master key is already uniformly random, so HKDF needs no secret salt; a
// fixed, public one is allowed (RFC 5869 §3.1) and keeps derivation stateless.
const HKDF_SALT = Buffer.alloc(0);

function derive(masterKey: Uint8Array, info: string): KeyObject {
  return createSecretKey(Buffer.from(hkdfSync("sha256", masterKey, HKDF_SALT, info, 32)));
}

/**
 * The set of keys the daemon can use. The first key is active (new values are
 * sealed under it, new digests made with it); the others only open values and
 * check digests made before a rotation. Master keys are not retained.
 */
export class Keyring {
  readonly active: DataKey;
  readonly keys: readonly DataKey[];
  readonly #byId: ReadonlyMap<string, DataKey>;

  constructor(masterKeys: readonly Uint8Array[]) {
    if (masterKeys.length === 0) {
      throw new KeyringError("KEYS_EMPTY", "no keys: the keyring needs at least one 32-byte key");
    }
    const byId = new Map<string, { key: DataKey; index: number; master: Uint8Array }>();
    const keys: DataKey[] = [];
    masterKeys.forEach((master, index) => {
      if (!(master instanceof Uint8Array) || master.byteLength !== MASTER_KEY_BYTES) {
        const got = master instanceof Uint8Array ? `${master.byteLength} bytes` : typeof master;
        throw new KeyringError("KEYS_MALFORMED", `key ${index + 1}: expected ${MASTER_KEY_BYTES} bytes, got ${got}`);
      }
      const idBytes = deriveKeyId(master);
      const id = formatKeyId(idBytes);
      const seen = byId.get(id);
      if (seen !== undefined) {
        // Same id: either literally the same key listed twice (harmless but a
        // sign of a copy-paste mistake) or a 32-bit collision between distinct
        // keys, which would make envelopes ambiguous. Both are refused.
        const same = Buffer.compare(Buffer.from(seen.master), Buffer.from(master)) === 0;
        throw new KeyringError(
          "KEYS_DUPLICATE",
          same
            ? `keys ${seen.index + 1} and ${index + 1} are the same key (${id})`
            : `keys ${seen.index + 1} and ${index + 1} have the same key id ${id}; generate a new key`,
        );
      }
      const key: DataKey = Object.freeze({
        id,
        idBytes,
        encryptionKey: derive(master, ENCRYPTION_INFO),
        digestKey: derive(master, DIGEST_INFO),
      });
      byId.set(id, { key, index, master });
      keys.push(key);
    });
    this.keys = Object.freeze(keys);
    this.active = keys[0]!;
    this.#byId = new Map([...byId].map(([id, v]) => [id, v.key]));
  }

  /** Key ids, the active one first. */
  get keyIds(): string[] {
    return this.keys.map((k) => k.id);
  }

  /** The key with this id (hex), or undefined. */
  get(keyId: string): DataKey | undefined {
    return this.#byId.get(keyId);
  }

  has(keyId: string): boolean {
    return this.#byId.has(keyId);
  }
}
