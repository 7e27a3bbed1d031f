/**
 * Public surface of the crypto module. Everything else (envelope layout, AAD
 * encoding, HKDF labels) is reachable through these names only.
 */
export { DecryptError, type SealContext, type Sealer } from "./sealer.js";
export { KeyringError, KeyringErrorCode } from "./keyring-error.js";
export { Keyring, MASTER_KEY_BYTES, type DataKey } from "./keyring.js";
export { AesSealer } from "./aes-sealer.js";
export { generateKeyLine, loadKeys, loadKeysFrom, parseKeysFile, type LoadKeysOptions, type LoadedKeys } from "./keys-file.js";
export {
  addSentinels,
  checkKeyring,
  sealSentinel,
  verifyKeyring,
  type KeyringCheck,
} from "./sentinel.js";
export { keyIdOfEnvelope, openEnvelope, sealEnvelope, type KeyLookup } from "./envelope.js";
export { valueAad } from "./aad.js";
