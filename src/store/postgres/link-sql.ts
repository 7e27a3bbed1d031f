/**
 * The SQL of the PostgreSQL LinkStore (links.ts). Parameters are positional;
 * each statement lists its parameters in its comment. Every write of link
 * data ends the lease and forgets what its holder was sending; lease
 * bookkeeping never touches version or updated_at (docs/design.md §4.3).
 * The rows the writes of link data leave are link-core.ts putRow, commitRow
 * and failureRow; each lease statement is one lease-core.ts decision spelled
 * as a conditional UPDATE (test/store/core-sql.test.ts runs them side by side).
 * Statements that change what a host may have cached, or free a lease
 * someone may be waiting for, NOTIFY in the same statement, so the
 * notification goes out exactly when the write commits.
 *
 * Every lease time is the database's clock, read in the statement itself
 * (clock_timestamp(), once per statement: STORE_NOW), never a time a host
 * passes in (docs/design.md §3 invariant 13); statements that judge or
 * answer a time return it as `store_now`.
 */

/** $1 provider_id, $2 user_id. */
const PK = "provider_id = $1 AND user_id = $2";
/** No refresh is in doubt (lease-core.ts NO_SEND). */
const CLEAR_SENT = "refresh_sent_at = NULL, refresh_sent_by = NULL, refresh_sent_digest = NULL";
const END_LEASE = `lease_owner = NULL, lease_until = NULL, ${CLEAR_SENT}`;

/** The database's clock in epoch ms, as the connection measures its offset (connection.ts). */
export const NOW_MS = "(extract(epoch FROM clock_timestamp()) * 1000)::int8";
/**
 * The clock read once for a whole statement: a CTE with a volatile function
 * is never inlined, so every use of `c.store_now` is the same instant.
 */
const STORE_NOW = `WITH c AS (SELECT ${NOW_MS} AS store_now)`;

export const LEASE_COLUMNS =
  "lease_owner, lease_until, generation, refresh_token_digest, refresh_sent_at, refresh_sent_by, refresh_sent_digest";

export const META_COLUMNS = `provider_id, user_id, version, (refresh_token IS NOT NULL)::int AS has_refresh_token,
  expires_at, failed_at, created_at, updated_at, last_refreshed_at, account, granted_scopes`;

export const SELECT = `SELECT * FROM links WHERE ${PK}`;
export const SELECT_FOR_UPDATE = `${SELECT} FOR UPDATE`;
export const LEASE_OF = `SELECT ${LEASE_COLUMNS}, ${NOW_MS} AS store_now FROM links WHERE ${PK}`;

/** $3 access_token, $4 token_type, $5 refresh_token, $6 refresh_token_digest, $7 expires_at, $8 extra, $9 now, $10 channel, $11 payload, $12 account, $13 granted_scopes. */
export const UPSERT = `
  WITH u AS (
    INSERT INTO links AS l (provider_id, user_id, version, access_token, token_type, refresh_token,
                            refresh_token_digest, expires_at, extra, generation, created_at, updated_at,
                            account, granted_scopes)
    VALUES ($1, $2, 1, $3, $4, $5, $6, $7, $8, 0, $9, $9, $12, $13)
    ON CONFLICT (provider_id, user_id) DO UPDATE SET
      version = l.version + 1,
      access_token = excluded.access_token,
      token_type = excluded.token_type,
      refresh_token = excluded.refresh_token,
      refresh_token_digest = excluded.refresh_token_digest,
      expires_at = excluded.expires_at,
      extra = excluded.extra,
      account = excluded.account,
      granted_scopes = excluded.granted_scopes,
      failure_reason = NULL,
      failed_at = NULL,
      failed_digest = NULL,
      ${END_LEASE},
      updated_at = excluded.updated_at,
      last_refreshed_at = NULL
    RETURNING version, created_at)
  SELECT u.version, u.created_at, pg_notify($10, $11) FROM u`;

/** $3..$8 as UPSERT, $9 now, $10 the version read under the row lock (link-core.ts casAllows decided on it), $11 account, $12 granted_scopes (link-core.ts committedColumns: the kept or the new). */
export const COMMIT = `
  UPDATE links SET
    version = version + 1,
    access_token = $3, token_type = $4, refresh_token = $5, refresh_token_digest = $6,
    expires_at = $7, extra = $8, account = $11, granted_scopes = $12,
    failure_reason = NULL, failed_at = NULL, failed_digest = NULL,
    ${END_LEASE},
    updated_at = $9, last_refreshed_at = $9
  WHERE ${PK} AND version = $10`;

/** $3 expected digest, $4 failure_reason, $5 now. */
export const RECORD_FAILURE = `
  UPDATE links SET
    version = version + 1,
    refresh_token = NULL, refresh_token_digest = NULL, failed_digest = refresh_token_digest,
    failure_reason = $4, failed_at = $5,
    ${END_LEASE},
    updated_at = $5
  WHERE ${PK} AND refresh_token_digest = $3`;

/** $1 channel, $2 payload: inside a transaction, sent when it commits. */
export const NOTIFY = "SELECT pg_notify($1, $2)";

export const REMOVE = `DELETE FROM links WHERE ${PK}`;
export const COUNT = "SELECT count(*)::int8 AS n FROM links";
export const COUNT_FAILED = "SELECT count(*)::int8 AS n FROM links WHERE failed_at IS NOT NULL";

/** lease-core.ts claimedLease: $3 owner, $4 ttl. */
const CLAIMED = "lease_owner = $3, lease_until = c.store_now + $4, generation = generation + 1";

/** $3 owner, $4 ttl. lease-core.ts claimAllows (expect = null), claimedLease. */
export const CLAIM = `
  ${STORE_NOW}
  UPDATE links SET ${CLAIMED} FROM c
  WHERE ${PK} AND lease_owner IS NULL
  RETURNING links.*, c.store_now`;

/** $3 owner, $4 ttl, $5 expected owner, $6 expected generation. lease-core.ts claimAllows (expect), claimedLease. */
const TAKEOVER_OF = `
  ${STORE_NOW}
  UPDATE links SET ${CLAIMED} FROM c
  WHERE ${PK} AND lease_owner = $5 AND generation = $6`;
export const TAKEOVER = `${TAKEOVER_OF} RETURNING links.*, c.store_now`;
/** The same, only once the lease ran out by the database's clock (claimAllows with onlyIfExpired). */
export const TAKEOVER_EXPIRED = `${TAKEOVER_OF} AND lease_until <= c.store_now RETURNING links.*, c.store_now`;

/**
 * $3 owner, $4 generation, $5 version, $6 ttl: lease-core.ts confirmAllows
 * and confirmedLease (no mark, "sending", "clear"). An expired lease cannot
 * be confirmed: another process may already have judged it free.
 */
const HELD = `${PK} AND lease_owner = $3 AND generation = $4`;
const confirm = (set: string): string => `
  ${STORE_NOW}
  UPDATE links SET lease_until = c.store_now + $6${set} FROM c
  WHERE ${HELD} AND version = $5 AND lease_until > c.store_now
  RETURNING 1`;
export const CONFIRM = confirm("");
export const CONFIRM_SENDING = confirm(", refresh_sent_at = c.store_now, refresh_sent_by = $3, refresh_sent_digest = refresh_token_digest");
export const CONFIRM_CLEAR = confirm(`, ${CLEAR_SENT}`);

/** $3 owner, $4 generation, $5 channel, $6 payload. lease-core.ts releaseAllows and releasedLease. */
export const RELEASE = `
  WITH r AS (UPDATE links SET ${END_LEASE} WHERE ${HELD} RETURNING 1)
  SELECT pg_notify($5, $6) FROM r`;
export const RELEASE_KEEP_SENDING = `
  WITH r AS (UPDATE links SET lease_owner = NULL, lease_until = NULL WHERE ${HELD} RETURNING 1)
  SELECT pg_notify($5, $6) FROM r`;

/** A listing for one filter shape; parameters in the order the shape names them, the limit last. */
export function listSql(filters: { provider?: boolean; user?: boolean; after?: boolean }): string {
  const where: string[] = [];
  let n = 0;
  if (filters.provider === true) where.push(`provider_id = $${++n}`);
  if (filters.user === true) where.push(`user_id = $${++n}`);
  if (filters.after === true) {
    where.push(`(provider_id, user_id) > ($${n + 1}, $${n + 2})`);
    n += 2;
  }
  const shape = where.length === 0 ? "" : `WHERE ${where.join(" AND ")}`;
  return `SELECT ${META_COLUMNS} FROM links ${shape} ORDER BY provider_id, user_id LIMIT $${n + 1}`;
}
