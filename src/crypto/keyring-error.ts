/**
 * Why a keyring cannot be used. `code` is stable so callers (the CLI, startup
 * wiring, tests) can branch on it without parsing the message; messages name
 * files, line numbers and key ids but never key material.
 */
export const KeyringErrorCode = {
  /** No key at all: an empty keys file, or an empty list. */
  KEYS_EMPTY: "KEYS_EMPTY",
  /** A key is not 32 bytes of canonical base64, or is a placeholder (all zeros). */
  KEYS_MALFORMED: "KEYS_MALFORMED",
  /** The keys file or credential cannot be read (missing, not a file, no permission, no CREDENTIALS_DIRECTORY). */
  KEYS_UNREADABLE: "KEYS_UNREADABLE",
  /** The same key twice, or two keys whose key ids collide. */
  KEYS_DUPLICATE: "KEYS_DUPLICATE",
  /** The store has sentinels, but none under any key of this keyring: wrong or missing key. */
  KEY_MISMATCH: "KEY_MISMATCH",
  /** A key whose id matches a stored sentinel fails to open it: wrong key or an altered sentinel. */
  SENTINEL_INVALID: "SENTINEL_INVALID",
} as const;
export type KeyringErrorCode = (typeof KeyringErrorCode)[keyof typeof KeyringErrorCode];

export class KeyringError extends Error {
  override readonly name = "KeyringError";
  constructor(
    readonly code: KeyringErrorCode,
    message: string,
    options?: { cause?: unknown },
  ) {
    super(message, options);
  }
}
