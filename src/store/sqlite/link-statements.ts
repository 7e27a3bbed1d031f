import type { Database, Statement } from "better-sqlite3";
import type { LeaseRow } from "../lease-core.js";
import { LEASE_COLUMNS, META_COLUMNS, type LinkMetaRow, type LinkRow } from "../row-codec.js";

/** Primary-key parameters shared by most statements. */
export interface PkParams {
  provider_id: string;
  user_id: string;
}

export interface UpsertParams extends PkParams {
  access_token: Buffer | null;
  token_type: string;
  refresh_token: Buffer | null;
  refresh_token_digest: string | null;
  expires_at: number | null;
  extra: Buffer | null;
  account: string | null;
  granted_scopes: string | null;
  now: number;
}

export interface CommitParams extends UpsertParams {
  /** The version of the row as read inside the commit's transaction (link-core.ts casAllows decided on it). */
  read_version: number;
}

export interface FailureParams extends PkParams {
  expect_digest: string;
  failure_reason: Buffer | null;
  now: number;
}

export interface ClaimParams extends PkParams {
  owner: string;
  until: number;
}

export interface TakeoverParams extends ClaimParams {
  expect_owner: string;
  expect_generation: number;
}

export interface TakeoverExpiredParams extends TakeoverParams {
  now: number;
}

export interface HeldParams extends PkParams {
  owner: string;
  generation: number;
}

export interface ConfirmParams extends HeldParams {
  version: number;
  until: number;
  now: number;
}

export interface ListParams {
  provider_id?: string;
  user_id?: string;
  after_provider_id?: string;
  after_user_id?: string;
  limit: number;
}

const PK = "provider_id = @provider_id AND user_id = @user_id";
const HELD = `${PK} AND lease_owner = @owner AND generation = @generation`;
/** No refresh is in doubt (lease-core.ts NO_SEND). */
const CLEAR_SENT = "refresh_sent_at = NULL, refresh_sent_by = NULL, refresh_sent_digest = NULL";
/** Every write of link data ends the lease and forgets what its holder was sending (lease-core.ts ENDED_LEASE). */
const END_LEASE = `lease_owner = NULL, lease_until = NULL, ${CLEAR_SENT}`;
/** lease-core.ts claimedLease. */
const CLAIMED = "lease_owner = @owner, lease_until = @until, generation = generation + 1";
/** The held lease, not expired, on the version the holder read (lease-core.ts confirmAllows). */
const CONFIRMABLE = `${HELD} AND version = @version AND lease_until > @now`;

/** Every statement on `links`, prepared once per connection. */
export class LinkStatements {
  readonly select: Statement<[PkParams], LinkRow>;
  readonly upsert: Statement<[UpsertParams], Pick<LinkRow, "version" | "created_at">>;
  readonly commit: Statement<[CommitParams]>;
  readonly recordFailure: Statement<[FailureParams]>;
  readonly remove: Statement<[PkParams]>;
  readonly count: Statement<[], number>;
  readonly countFailed: Statement<[], number>;
  readonly leaseOf: Statement<[PkParams], LeaseRow>;
  /** Claims a free lease (lease-core.ts claimAllows with expect = null; SET: claimedLease). */
  readonly claim: Statement<[ClaimParams], LinkRow>;
  /** Takes the lease over from exactly the holder the caller observed (claimAllows with expect). */
  readonly takeover: Statement<[TakeoverParams], LinkRow>;
  /** The same, only once the lease ran out by the store's clock (claimAllows with onlyIfExpired). */
  readonly takeoverExpired: Statement<[TakeoverExpiredParams], LinkRow>;
  /** lease-core.ts confirmAllows; SET: confirmedLease (no mark, "sending", "clear"). */
  readonly confirm: Statement<[ConfirmParams]>;
  readonly confirmSending: Statement<[ConfirmParams]>;
  readonly confirmClear: Statement<[ConfirmParams]>;
  /** lease-core.ts releaseAllows; SET: releasedLease. */
  readonly release: Statement<[HeldParams]>;
  readonly releaseKeepSending: Statement<[HeldParams]>;
  private readonly listers = new Map<string, Statement<[ListParams], LinkMetaRow>>();

  constructor(private readonly db: Database) {
    this.select = db.prepare(`SELECT * FROM links WHERE ${PK}`);
    // The rows these three writes leave are link-core.ts putRow, commitRow and failureRow.
    this.upsert = db.prepare(`
      INSERT INTO links (provider_id, user_id, version, access_token, token_type, refresh_token,
                         refresh_token_digest, expires_at, extra, generation, created_at, updated_at,
                         account, granted_scopes)
      VALUES (@provider_id, @user_id, 1, @access_token, @token_type, @refresh_token,
              @refresh_token_digest, @expires_at, @extra, 0, @now, @now, @account, @granted_scopes)
      ON CONFLICT (provider_id, user_id) DO UPDATE SET
        version = version + 1,
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
      RETURNING version, created_at`);
    this.commit = db.prepare(`
      UPDATE links SET
        version = version + 1,
        access_token = @access_token,
        token_type = @token_type,
        refresh_token = @refresh_token,
        refresh_token_digest = @refresh_token_digest,
        expires_at = @expires_at,
        extra = @extra,
        account = @account,
        granted_scopes = @granted_scopes,
        failure_reason = NULL,
        failed_at = NULL,
        failed_digest = NULL,
        ${END_LEASE},
        updated_at = @now,
        last_refreshed_at = @now
      WHERE ${PK} AND version = @read_version`);
    this.recordFailure = db.prepare(`
      UPDATE links SET
        version = version + 1,
        refresh_token = NULL,
        refresh_token_digest = NULL,
        failed_digest = refresh_token_digest,
        failure_reason = @failure_reason,
        failed_at = @now,
        ${END_LEASE},
        updated_at = @now
      WHERE ${PK} AND refresh_token_digest = @expect_digest`);
    this.remove = db.prepare(`DELETE FROM links WHERE ${PK}`);
    this.count = db.prepare<[], number>("SELECT count(*) FROM links").pluck();
    this.countFailed = db.prepare<[], number>("SELECT count(*) FROM links WHERE failed_at IS NOT NULL").pluck();

    // Lease bookkeeping never touches version or updated_at: it is not link data. Each
    // statement is one store-core decision (lease-core.ts) spelled as a conditional UPDATE;
    // test/store/core-sql.test.ts runs random operations against them and the core side by side.
    this.leaseOf = db.prepare(`SELECT ${LEASE_COLUMNS} FROM links WHERE ${PK}`);
    this.claim = db.prepare(`UPDATE links SET ${CLAIMED} WHERE ${PK} AND lease_owner IS NULL RETURNING *`);
    const takeover = `UPDATE links SET ${CLAIMED} WHERE ${PK} AND lease_owner = @expect_owner AND generation = @expect_generation`;
    this.takeover = db.prepare(`${takeover} RETURNING *`);
    this.takeoverExpired = db.prepare(`${takeover} AND lease_until <= @now RETURNING *`);
    // An expired lease cannot be confirmed: another process may already have
    // judged it free (docs/design.md §4), so its holder must claim anew.
    this.confirm = db.prepare(`UPDATE links SET lease_until = @until WHERE ${CONFIRMABLE}`);
    this.confirmSending = db.prepare(`
      UPDATE links SET lease_until = @until,
        refresh_sent_at = @now, refresh_sent_by = @owner, refresh_sent_digest = refresh_token_digest
      WHERE ${CONFIRMABLE}`);
    this.confirmClear = db.prepare(`UPDATE links SET lease_until = @until, ${CLEAR_SENT} WHERE ${CONFIRMABLE}`);
    this.release = db.prepare(`UPDATE links SET ${END_LEASE} WHERE ${HELD}`);
    this.releaseKeepSending = db.prepare(`UPDATE links SET lease_owner = NULL, lease_until = NULL WHERE ${HELD}`);
  }

  /**
   * One statement per filter shape (at most eight), prepared on first use,
   * so each shape gets a plan that can use the primary key or links_by_user.
   */
  list(params: ListParams): Statement<[ListParams], LinkMetaRow> {
    const where: string[] = [];
    if (params.provider_id !== undefined) where.push("provider_id = @provider_id");
    if (params.user_id !== undefined) where.push("user_id = @user_id");
    if (params.after_provider_id !== undefined) where.push("(provider_id, user_id) > (@after_provider_id, @after_user_id)");
    const shape = where.join(" AND ");
    let stmt = this.listers.get(shape);
    if (stmt === undefined) {
      stmt = this.db.prepare(
        `SELECT ${META_COLUMNS} FROM links ${shape === "" ? "" : `WHERE ${shape}`} ORDER BY provider_id, user_id LIMIT @limit`,
      );
      this.listers.set(shape, stmt);
    }
    return stmt;
  }
}
