import { createHmac, timingSafeEqual, type KeyObject } from "node:crypto";
import { valueAad } from "./aad.js";
import { keyIdOfEnvelope, openEnvelope, sealEnvelope, type KeyLookup } from "./envelope.js";
import type { Keyring } from "./keyring.js";
import type { SealContext, Sealer } from "./sealer.js";
import { DecryptError } from "./sealer.js";

/** HMAC-SHA256 output, base64url without padding: 43 characters. */
const DIGEST_PATTERN = /^([0-9a-f]{8}):([A-Za-z0-9_-]{43})$/;

/**
 * The Sealer the stores use: AES-256-GCM envelopes bound to their row and
 * column (aad.ts), under the keyring's active key, opened under whichever key
 * the envelope names.
 */
export class AesSealer implements Sealer {
  readonly #keyring: Keyring;
  readonly #lookup: KeyLookup;

  constructor(keyring: Keyring) {
    this.#keyring = keyring;
    this.#lookup = (id) => keyring.get(id);
  }

  get activeKeyId(): string {
    return this.#keyring.active.id;
  }

  seal(plaintext: string, ctx: SealContext): Buffer {
    if (typeof plaintext !== "string") throw new TypeError("seal: plaintext must be a string");
    // An envelope of "" is indistinguishable in SQL from a real secret (the
    // bug Coder has with empty refresh tokens); absent secrets are NULL, so
    // sealing one is a caller bug, reported loudly.
    if (plaintext === "") throw new TypeError(`seal: empty ${ctx.table}.${ctx.column}; store NULL instead`);
    return sealEnvelope(this.#keyring.active, Buffer.from(plaintext, "utf8"), valueAad(ctx));
  }

  open(envelope: Uint8Array, ctx: SealContext): string {
    let aad: Buffer;
    try {
      aad = valueAad(ctx);
    } catch (err) {
      // A context that cannot be encoded can never have been sealed for.
      throw new DecryptError(`cannot open ${ctx.table}.${ctx.column}: ${(err as Error).message}`);
    }
    // Authenticated bytes can only have come from seal(), which writes UTF-8.
    return openEnvelope(this.#lookup, envelope, aad).toString("utf8");
  }

  keyIdOf(envelope: Uint8Array): string {
    return keyIdOfEnvelope(envelope);
  }

  /**
   * `<keyid>:<base64url HMAC-SHA256(digest key, plaintext)>`. Naming the key
   * keeps old digests checkable after rotation without trying every key. The
   * digest is deterministic by design (the store compares it for
   * compare-and-swap), so equal tokens have equal digests; refresh tokens are
   * high-entropy, so the digest reveals nothing else.
   */
  digest(plaintext: string): string {
    const key = this.#keyring.active;
    return `${key.id}:${hmac(key.digestKey, plaintext).toString("base64url")}`;
  }

  digestMatches(digest: string, plaintext: string): boolean {
    if (typeof digest !== "string" || typeof plaintext !== "string") return false;
    const m = DIGEST_PATTERN.exec(digest);
    if (m === null) return false;
    const [, keyId, mac] = m as unknown as [string, string, string];
    const key = this.#keyring.get(keyId);
    if (key === undefined) return false;
    const given = Buffer.from(mac, "base64url");
    const expected = hmac(key.digestKey, plaintext);
    // Constant time: a byte-by-byte early exit would let a caller who can
    // submit guesses learn the digest a prefix at a time.
    return given.length === expected.length && timingSafeEqual(given, expected);
  }
}

function hmac(key: KeyObject, plaintext: string): Buffer {
  return createHmac("sha256", key).update(plaintext, "utf8").digest();
}
