import type { LinkKey } from "./link-store.js";

/**
 * What the keyring and key rotation need from storage: one sentinel per key,
 * sealed under that key, so a wrong or missing key is a clear startup error
 * (crypto/sentinel.ts reads and writes them through the narrow part it
 * declares); a census of stored values per key id for GetKeyStatus; and
 * re-sealing under the active key, batch by batch, for online rotation.
 */
export interface KeySentinel {
  keyId: string;
  envelope: Buffer;
  /** When the sentinel was first stored (epoch ms): the key's first_seen_at. */
  createdAt: number;
}

export interface ResealBatch {
  /** Rows whose values were re-sealed under the active key. */
  resealed: number;
  /** Rows looked at. */
  scanned: number;
  /** Where the next batch starts; undefined when the table is done. */
  next: LinkKey | undefined;
}

export interface KeyringStore {
  /** Every stored sentinel, oldest first. */
  listSentinels(): Promise<KeySentinel[]>;
  /**
   * Stores the sentinel for `keyId` unless one already exists (the first one
   * is kept, so createdAt stays the key's first-seen time). Returns whether
   * it was inserted.
   */
  putSentinel(keyId: string, envelope: Uint8Array, now: number): Promise<boolean>;
  /**
   * How many non-NULL sealed values each key id sealed, read from envelope
   * headers (nothing is decrypted). Envelopes whose header cannot be read are
   * counted under UNREADABLE_KEY_ID.
   */
  countByKeyId(): Promise<Map<string, number>>;
  /**
   * Re-seals one batch of links (in key order, after `after`) under the
   * active key, and every pending flow's secret with the first batch. Changes
   * no plaintext, so row versions stay: a refresh that read a row before
   * still commits. A value that fails to open stops the batch with
   * DecryptError: rotation never skips a value silently.
   */
  reseal(after: LinkKey | undefined, limit: number): Promise<ResealBatch>;
}

/** The countByKeyId bucket for envelopes whose key id cannot be read. */
export const UNREADABLE_KEY_ID = "";
