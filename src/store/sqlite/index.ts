export { SqliteLinkStore, DEFAULT_BUSY_TIMEOUT_MS, type SqliteLinkStoreOptions } from "./sqlite-link-store.js";
export { UNREADABLE_KEY_ID, type KeyringStore, type KeySentinel } from "./keyring-store.js";
export {
  migrations,
  migrate,
  LATEST_SCHEMA_VERSION,
  SchemaTooNewError,
  type Migration,
  type MigrationResult,
} from "./migrations.js";
export { type ResealBatch } from "./reseal.js";
