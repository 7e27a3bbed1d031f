import { sentinelAad } from "./aad.js";
import { keyIdOfEnvelope, openEnvelope, sealEnvelope } from "./envelope.js";
import type { DataKey, Keyring } from "./keyring.js";
import { KeyringError } from "./keyring-error.js";

/**
 * Sentinels make a wrong or missing key a clear startup error instead of a
 * stream of DecryptErrors on whichever link is read first. The store keeps one
 * small envelope per key id, sealed under that key; at startup every key of
 * the ring that has a sentinel must open it, and at least one key must have
 * one. Nothing is written unless every check passes, so starting with the
 * wrong keys file leaves the database untouched.
 */

/**
 * The narrow part of the store's KeyringStore (store/keyring-store.ts) these
 * checks use, declared here structurally: crypto/ sits below store/ and does
 * not import it.
 */
type SentinelReader = { listSentinels(): Promise<ReadonlyArray<{ keyId: string; envelope: Uint8Array }>> };
type SentinelWriter = { putSentinel(keyId: string, envelope: Uint8Array, now: number): Promise<unknown> };

/** The known plaintext; a sentinel must open to exactly these bytes. */
const SENTINEL_PLAINTEXT = Buffer.from("tokenbroker keyring sentinel v1", "utf8");

export interface KeyringCheck {
  /** Keyring keys whose stored sentinel opened. */
  verified: string[];
  /** Keyring keys with no sentinel yet (new keys); writing adds one for each. */
  missing: string[];
  /** Key ids the store has sentinels for but the keyring lacks (retired keys). */
  unknown: string[];
}

/** A new sentinel sealed under `key` (not the active key: each key proves itself). */
export function sealSentinel(key: DataKey): Buffer {
  return sealEnvelope(key, SENTINEL_PLAINTEXT, sentinelAad());
}

/**
 * Checks the keyring against the store's sentinels without writing anything.
 * Rejects with KeyringError SENTINEL_INVALID if a key fails to open its sentinel,
 * KEY_MISMATCH if the store has sentinels but none for any key of the ring.
 * A store with no sentinels (brand new) passes with every key missing.
 */
export async function checkKeyring(keyring: Keyring, store: SentinelReader): Promise<KeyringCheck> {
  const sentinels = await store.listSentinels();
  const verified = new Set<string>();
  const unknown = new Set<string>();
  for (const s of sentinels) {
    const key = keyring.get(s.keyId);
    if (key === undefined) {
      unknown.add(s.keyId);
      continue;
    }
    if (!opensSentinel(key, s.envelope)) {
      throw new KeyringError(
        "SENTINEL_INVALID",
        `key ${key.id} does not open its sentinel: wrong key, or the sentinel was altered; nothing was modified`,
      );
    }
    verified.add(key.id);
  }
  if (sentinels.length > 0 && verified.size === 0) {
    throw new KeyringError(
      "KEY_MISMATCH",
      `the store's values are sealed under key(s) ${[...unknown].join(", ")}; the keyring has ${keyring.keyIds.join(", ")}` +
        ` (wrong keys file, or a key retired before its values were re-sealed); nothing was modified`,
    );
  }
  return {
    verified: keyring.keyIds.filter((id) => verified.has(id)),
    missing: keyring.keyIds.filter((id) => !verified.has(id)),
    unknown: [...unknown],
  };
}

/** Stores a sentinel for each key id given (normally `checkKeyring(...).missing`). */
export async function addSentinels(keyring: Keyring, store: SentinelWriter, keyIds: readonly string[], now: number): Promise<void> {
  for (const id of keyIds) {
    const key = keyring.get(id);
    if (key === undefined) throw new Error(`addSentinels: key ${id} is not in the keyring`);
    await store.putSentinel(id, sealSentinel(key), now);
  }
}

/**
 * Startup check: verifies first, then records sentinels for new keys. Rejects
 * (see checkKeyring) before writing anything. Returns what it found; `missing`
 * lists the sentinels it just added.
 */
export async function verifyKeyring(keyring: Keyring, store: SentinelReader & SentinelWriter, now: number): Promise<KeyringCheck> {
  const check = await checkKeyring(keyring, store);
  await addSentinels(keyring, store, check.missing, now);
  return check;
}

function opensSentinel(key: DataKey, envelope: Uint8Array): boolean {
  try {
    // Open only with the key the row claims: a sentinel whose header names
    // another key is not this key's sentinel.
    if (keyIdOfEnvelope(envelope) !== key.id) return false;
    const plaintext = openEnvelope((id) => (id === key.id ? key : undefined), envelope, sentinelAad());
    return plaintext.equals(SENTINEL_PLAINTEXT);
  } catch {
    return false;
  }
}
