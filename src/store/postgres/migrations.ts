import type pg from "pg";
import { SchemaTooNewError, checkSequence, type Migration, type MigrationResult } from "../migration.js";

/**
 * PostgreSQL's schema, numbered like SQLite's (store/sqlite/migrations.ts):
 * version N has the same tables and columns on both. Times are epoch
 * milliseconds in the database's clock (connection.ts), sealed values bytea;
 * the key columns compare bytewise (COLLATE "C"), as SQLite's do, so paging
 * orders the same on both.
 */
export const migrations: readonly Migration[] = [
  {
    version: 1,
    name: "links and key sentinels",
    up: `
      CREATE TABLE links (
        provider_id          text   COLLATE "C" NOT NULL,
        user_id              text   COLLATE "C" NOT NULL,
        version              int8   NOT NULL CHECK (version >= 1),
        access_token         bytea,
        token_type           text   NOT NULL,
        refresh_token        bytea,
        refresh_token_digest text,
        expires_at           int8,
        extra                bytea,
        failure_reason       bytea,
        failed_at            int8,
        lease_owner          text,
        lease_until          int8,
        generation           int8   NOT NULL DEFAULT 0,
        created_at           int8   NOT NULL,
        updated_at           int8   NOT NULL,
        last_refreshed_at    int8,
        PRIMARY KEY (provider_id, user_id),
        CHECK ((refresh_token IS NULL) = (refresh_token_digest IS NULL)),
        CHECK ((lease_owner IS NULL) = (lease_until IS NULL))
      );
      CREATE INDEX links_by_user ON links (user_id, provider_id);
      CREATE TABLE key_sentinels (
        key_id     text  NOT NULL PRIMARY KEY,
        envelope   bytea NOT NULL,
        created_at int8  NOT NULL
      );
    `,
  },
  {
    version: 2,
    name: "pending authorization-code and device flows",
    up: `
      CREATE TABLE auth_flows (
        state_hash     text  NOT NULL PRIMARY KEY,
        provider_id    text  NOT NULL,
        user_id        text  NOT NULL,
        code_verifier  bytea,
        redirect_after text,
        created_at     int8  NOT NULL,
        expires_at     int8  NOT NULL
      );
      CREATE TABLE device_flows (
        session_hash text  NOT NULL PRIMARY KEY,
        provider_id  text  NOT NULL,
        user_id      text  NOT NULL,
        device_code  bytea NOT NULL,
        interval_ms  int8  NOT NULL,
        next_poll_at int8  NOT NULL,
        created_at   int8  NOT NULL,
        expires_at   int8  NOT NULL
      );
    `,
  },
  {
    version: 3,
    name: "the refresh a lease holder is sending",
    up: `
      ALTER TABLE links ADD COLUMN refresh_sent_at int8;
      ALTER TABLE links ADD COLUMN refresh_sent_by text;
      ALTER TABLE links ADD COLUMN refresh_sent_digest text;
    `,
  },
  {
    version: 4,
    name: "the digest of the refresh token a failure cleared",
    up: `
      ALTER TABLE links ADD COLUMN failed_digest text;
    `,
  },
  {
    version: 5,
    name: "job-scoped caller tokens",
    up: `
      CREATE TABLE caller_tokens (
        id           text COLLATE "C" NOT NULL PRIMARY KEY,
        token_sha256 text NOT NULL UNIQUE,
        user_id      text COLLATE "C" NOT NULL,
        provider_ids text NOT NULL,
        scopes       text NOT NULL,
        label        text NOT NULL,
        issued_by    text NOT NULL,
        created_at   int8 NOT NULL,
        expires_at   int8 NOT NULL,
        revoked_at   int8
      );
      CREATE INDEX caller_tokens_by_user ON caller_tokens (user_id, created_at);
    `,
  },
  {
    version: 6,
    name: "the account a link belongs to and its granted scopes",
    up: `
      ALTER TABLE links ADD COLUMN account text;
      ALTER TABLE links ADD COLUMN granted_scopes text;
    `,
  },
];

export const LATEST_SCHEMA_VERSION: number = migrations.length;

/**
 * One advisory lock for every tokenbroker on a database: daemons that start
 * at once apply each migration exactly once, one after the other.
 * (0x746b6272 is "tkbr".)
 */
const MIGRATION_LOCK = 0x746b6272;

/**
 * Brings the schema up to the last entry of `list` under a session-level
 * advisory lock, all pending migrations in one transaction (PostgreSQL's DDL
 * is transactional, so a failing one leaves nothing behind). A schema newer
 * than this build is refused unchanged.
 */
export async function migrate(client: pg.ClientBase, list: readonly Migration[] = migrations, now: number = Date.now()): Promise<MigrationResult> {
  checkSequence(list);
  const latest = list.length;
  await client.query("SELECT pg_advisory_lock($1)", [MIGRATION_LOCK]);
  try {
    await client.query("BEGIN");
    try {
      await client.query(`CREATE TABLE IF NOT EXISTS schema_migrations (
        version    int8 NOT NULL PRIMARY KEY,
        name       text NOT NULL,
        applied_at int8 NOT NULL)`);
      const { rows } = await client.query<{ v: number | null }>("SELECT max(version) AS v FROM schema_migrations");
      const from = rows[0]?.v ?? 0;
      if (from > latest) throw new SchemaTooNewError(from, latest);
      const applied: number[] = [];
      for (const m of list) {
        if (m.version <= from) continue;
        await client.query(m.up);
        await client.query("INSERT INTO schema_migrations (version, name, applied_at) VALUES ($1, $2, $3)", [m.version, m.name, now]);
        applied.push(m.version);
      }
      await client.query("COMMIT");
      return { from, to: Math.max(from, latest), applied };
    } catch (err) {
      await client.query("ROLLBACK").catch(() => undefined);
      throw err;
    }
  } finally {
    await client.query("SELECT pg_advisory_unlock($1)", [MIGRATION_LOCK]).catch(() => undefined);
  }
}
