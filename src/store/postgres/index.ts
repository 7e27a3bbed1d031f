export { openPostgresStore, type PgStore, type PgStoreHealth, type PgStoreOptions } from "./pg-store.js";
export type { PgLinks } from "./links.js";
export { migrations, migrate, LATEST_SCHEMA_VERSION } from "./migrations.js";
export { LINKS_CHANNEL } from "./listener.js";
export { openPostgresCopyTarget, type PgCopyTarget } from "./copy-target.js";
