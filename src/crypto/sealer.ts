/**
 * The seam between storage and encryption: the store never sees a key, and
 * the crypto module never sees SQL. Every sealed value is bound to where it
 * lives, so a value copied into another row or column fails to open.
 */
export interface SealContext {
  table: string;
  column: string;
  providerId: string;
  userId: string;
}

export interface Sealer {
  /** Seals under the active key. Empty strings are not sealed: store NULL. */
  seal(plaintext: string, ctx: SealContext): Buffer;
  /** Opens a value sealed under any key in the keyring; throws DecryptError. */
  open(envelope: Uint8Array, ctx: SealContext): string;
  /** The key id an envelope was sealed under, read from its header (no decryption). */
  keyIdOf(envelope: Uint8Array): string;
  /** The key id new values are sealed under. */
  readonly activeKeyId: string;
  /**
   * Keyed digest of a refresh token for compare-and-swap, under the active
   * key; self-describing (it names its key), so it stays comparable while
   * keys rotate.
   */
  digest(plaintext: string): string;
  /** Whether `digest` (made under any key of the ring) is the digest of `plaintext`. */
  digestMatches(digest: string, plaintext: string): boolean;
}

/** A stored value failed authentication: wrong key, tampering, or moved from another row. */
export class DecryptError extends Error {
  override readonly name = "DecryptError";
  constructor(
    message: string,
    readonly keyId?: string,
  ) {
    super(message);
  }
}
