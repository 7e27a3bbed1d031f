/**
 * What the keyring (crypto/) needs from storage: one sentinel per key, sealed
 * under that key, so a wrong or missing key is a clear startup error, plus a
 * census of stored values per key id for GetKeyStatus and rotation.
 * Synchronous: it is used at startup and by admin calls only.
 */
export interface KeySentinel {
  keyId: string;
  envelope: Buffer;
  /** When the sentinel was first stored (epoch ms): the key's first_seen_at. */
  createdAt: number;
}

export interface KeyringStore {
  /** Every stored sentinel, oldest first. */
  listSentinels(): KeySentinel[];
  /**
   * Stores the sentinel for `keyId` unless one already exists (the first one
   * is kept, so createdAt stays the key's first-seen time). Returns whether
   * it was inserted.
   */
  putSentinel(keyId: string, envelope: Uint8Array, now: number): boolean;
  /**
   * How many non-NULL sealed values each key id sealed, read from envelope
   * headers (nothing is decrypted). Envelopes whose header cannot be read are
   * counted under UNREADABLE_KEY_ID.
   */
  countByKeyId(): Map<string, number>;
}

/** The countByKeyId bucket for envelopes whose key id cannot be read. */
export const UNREADABLE_KEY_ID = "";
