export { openSqliteStore, type SqliteStore, type SqliteStoreOptions } from "./sqlite-store.js";
export type { SqliteLinks } from "./links.js";
export {
  migrations,
  migrate,
  LATEST_SCHEMA_VERSION,
  SchemaTooNewError,
  type Migration,
  type MigrationResult,
} from "./migrations.js";
export { openSqliteCopySource, SourceInUseError, type SqliteCopySource } from "./copy-source.js";
