import type { Database } from "better-sqlite3";
import { SchemaTooNewError, checkSequence, type Migration, type MigrationResult } from "../migration.js";

export { SchemaTooNewError, type Migration, type MigrationResult };

/** SQLite's schema, numbered like the PostgreSQL store's (store/postgres/migrations.ts). */
export const migrations: readonly Migration[] = [
  {
    version: 1,
    name: "links and key sentinels",
    up: `
      CREATE TABLE links (
        provider_id          TEXT    NOT NULL,
        user_id              TEXT    NOT NULL,
        version              INTEGER NOT NULL CHECK (version >= 1),
        access_token         BLOB,
        token_type           TEXT    NOT NULL,
        refresh_token        BLOB,
        refresh_token_digest TEXT,
        expires_at           INTEGER,
        extra                BLOB,
        failure_reason       BLOB,
        failed_at            INTEGER,
        lease_owner          TEXT,
        lease_until          INTEGER,
        generation           INTEGER NOT NULL DEFAULT 0,
        created_at           INTEGER NOT NULL,
        updated_at           INTEGER NOT NULL,
        last_refreshed_at    INTEGER,
        PRIMARY KEY (provider_id, user_id),
        CHECK ((refresh_token IS NULL) = (refresh_token_digest IS NULL)),
        CHECK ((lease_owner IS NULL) = (lease_until IS NULL))
      ) STRICT;

      CREATE INDEX links_by_user ON links (user_id, provider_id);

      CREATE TABLE key_sentinels (
        key_id     TEXT    NOT NULL PRIMARY KEY,
        envelope   BLOB    NOT NULL,
        created_at INTEGER NOT NULL
      ) STRICT;
    `,
  },
  {
    version: 2,
    name: "pending authorization-code and device flows",
    up: `
      CREATE TABLE auth_flows (
        state_hash     TEXT    NOT NULL PRIMARY KEY,
        provider_id    TEXT    NOT NULL,
        user_id        TEXT    NOT NULL,
        code_verifier  BLOB,
        redirect_after TEXT,
        created_at     INTEGER NOT NULL,
        expires_at     INTEGER NOT NULL
      ) STRICT;

      CREATE TABLE device_flows (
        session_hash TEXT    NOT NULL PRIMARY KEY,
        provider_id  TEXT    NOT NULL,
        user_id      TEXT    NOT NULL,
        device_code  BLOB    NOT NULL,
        interval_ms  INTEGER NOT NULL,
        next_poll_at INTEGER NOT NULL,
        created_at   INTEGER NOT NULL,
        expires_at   INTEGER NOT NULL
      ) STRICT;
    `,
  },
  {
    version: 3,
    name: "the refresh a lease holder is sending",
    // Set by confirmLease(sending) and cleared by commit, failure, put and a
    // clean release; "sending the stored token" is refresh_sent_digest =
    // refresh_token_digest (docs/design.md §4). Existing rows get NULL.
    up: `
      ALTER TABLE links ADD COLUMN refresh_sent_at INTEGER;
      ALTER TABLE links ADD COLUMN refresh_sent_by TEXT;
      ALTER TABLE links ADD COLUMN refresh_sent_digest TEXT;
    `,
  },
  {
    version: 4,
    name: "the digest of the refresh token a failure cleared",
    // Set by recordFailure, cleared by put and commit: a late answer to the
    // failed token's send still commits (a heal, docs/design.md §4.2).
    // Independent of refresh_token (NULL while this is set). Existing rows get NULL.
    up: `
      ALTER TABLE links ADD COLUMN failed_digest TEXT;
    `,
  },
  {
    version: 5,
    name: "job-scoped caller tokens",
    // Only the SHA-256 of a token is stored (docs/design.md §6); provider_ids
    // and scopes are JSON arrays of strings.
    up: `
      CREATE TABLE caller_tokens (
        id           TEXT    NOT NULL PRIMARY KEY,
        token_sha256 TEXT    NOT NULL UNIQUE,
        user_id      TEXT    NOT NULL,
        provider_ids TEXT    NOT NULL,
        scopes       TEXT    NOT NULL,
        label        TEXT    NOT NULL,
        issued_by    TEXT    NOT NULL,
        created_at   INTEGER NOT NULL,
        expires_at   INTEGER NOT NULL,
        revoked_at   INTEGER
      ) STRICT;
      CREATE INDEX caller_tokens_by_user ON caller_tokens (user_id, created_at);
    `,
  },
  {
    version: 6,
    name: "the account a link belongs to and its granted scopes",
    // Not secrets, so not sealed: a listing shows them without opening a row.
    // Written by put (NULL when not known) and by a commit that learned them;
    // a commit without them keeps what is stored (docs/design.md §4).
    // granted_scopes is space-separated ("" = none granted). Existing rows get NULL.
    up: `
      ALTER TABLE links ADD COLUMN account TEXT;
      ALTER TABLE links ADD COLUMN granted_scopes TEXT;
    `,
  },
];

/** The schema version this build writes. */
export const LATEST_SCHEMA_VERSION: number = migrations.length;

const CREATE_MIGRATIONS_TABLE = `
  CREATE TABLE IF NOT EXISTS schema_migrations (
    version    INTEGER NOT NULL PRIMARY KEY,
    name       TEXT    NOT NULL,
    applied_at INTEGER NOT NULL
  ) STRICT`;

/** The highest applied migration, or undefined on a database without the migrations table. */
function appliedVersion(db: Database): number | undefined {
  const table = db.prepare("SELECT 1 FROM sqlite_schema WHERE type = 'table' AND name = 'schema_migrations'").get();
  if (table === undefined) return undefined;
  return db.prepare<[], { v: number | null }>("SELECT max(version) AS v FROM schema_migrations").get()?.v ?? 0;
}

/**
 * Brings the schema up to the last entry of `list`, in one BEGIN IMMEDIATE
 * transaction, so two processes opening a fresh file at once cannot both
 * apply a migration, and a failing migration leaves nothing behind.
 * Idempotent: an up-to-date database applies nothing.
 */
export function migrate(db: Database, list: readonly Migration[] = migrations, now: number = Date.now()): MigrationResult {
  checkSequence(list);
  const latest = list.length;
  // Up to date (the common case) is decided by a read, so opening does not
  // wait for another process's write lock.
  const current = appliedVersion(db);
  if (current !== undefined && current > latest) throw new SchemaTooNewError(current, latest);
  if (current === latest) return { from: latest, to: latest, applied: [] };
  const run = db.transaction((): MigrationResult => {
    db.exec(CREATE_MIGRATIONS_TABLE);
    const row = db.prepare<[], { v: number | null }>("SELECT max(version) AS v FROM schema_migrations").get();
    const from = row?.v ?? 0;
    if (from > latest) throw new SchemaTooNewError(from, latest);
    const record = db.prepare<[number, string, number]>(
      "INSERT INTO schema_migrations (version, name, applied_at) VALUES (?, ?, ?)",
    );
    const applied: number[] = [];
    for (const m of list) {
      if (m.version <= from) continue;
      db.exec(m.up);
      record.run(m.version, m.name, now);
      applied.push(m.version);
    }
    return { from, to: Math.max(from, latest), applied };
  });
  return run.immediate();
}
