export { openSqliteStore, DEFAULT_CACHE_ENTRIES, type SqliteStore, type SqliteStoreOptions } from "./sqlite-store.js";
export { DEFAULT_BUSY_BUDGET_MS, DEFAULT_BUSY_TIMEOUT_MS } from "./connection.js";
export type { SqliteLinks } from "./links.js";
export {
  migrations,
  migrate,
  LATEST_SCHEMA_VERSION,
  SchemaTooNewError,
  type Migration,
  type MigrationResult,
} from "./migrations.js";
