import { callerTokenRecord, callerTokenRow, type CallerTokenRecord, type CallerTokenRow, type CallerTokenStore } from "../caller-token-store.js";
import type { PgConnection } from "./connection.js";

/** CallerTokenStore over `caller_tokens` (migration 5); times in the database's clock. */
export class PgCallerTokens implements CallerTokenStore {
  readonly #conn: PgConnection;

  constructor(conn: PgConnection) {
    this.#conn = conn;
  }

  async insertCallerToken(r: CallerTokenRecord): Promise<void> {
    const row = callerTokenRow(r);
    await this.#conn.query(
      "callerTokens.insert",
      `INSERT INTO caller_tokens (id, token_sha256, user_id, provider_ids, scopes, label, issued_by, created_at, expires_at, revoked_at)
       VALUES ($1, $2, $3, $4, $5, $6, $7, $8, $9, $10)`,
      [row.id, row.token_sha256, row.user_id, row.provider_ids, row.scopes, row.label, row.issued_by, this.#conn.toDb(row.created_at), this.#conn.toDb(row.expires_at), this.#conn.toDb(row.revoked_at)],
    );
  }

  async findCallerToken(digest: string): Promise<CallerTokenRecord | undefined> {
    const [row] = await this.#conn.query<CallerTokenRow>("callerTokens.find", "SELECT * FROM caller_tokens WHERE token_sha256 = $1", [digest]);
    return row === undefined ? undefined : this.#fromDb(row);
  }

  async revokeCallerToken(id: string, now: number): Promise<boolean> {
    const t = this.#conn.toDb(now);
    const rows = await this.#conn.query<{ id: string }>(
      "callerTokens.revoke",
      "UPDATE caller_tokens SET revoked_at = $1 WHERE id = $2 AND revoked_at IS NULL AND expires_at > $1 RETURNING id",
      [t, id],
    );
    return rows.length === 1;
  }

  async listCallerTokens(filter: { userId?: string | undefined; activeAt?: number | undefined }): Promise<CallerTokenRecord[]> {
    const at = filter.activeAt === undefined ? null : this.#conn.toDb(filter.activeAt);
    const rows = await this.#conn.query<CallerTokenRow>(
      "callerTokens.list",
      `SELECT * FROM caller_tokens WHERE ($1::text IS NULL OR user_id = $1)
         AND ($2::int8 IS NULL OR (revoked_at IS NULL AND expires_at > $2)) ORDER BY created_at DESC, id`,
      [filter.userId ?? null, at],
    );
    return rows.map((r) => this.#fromDb(r));
  }

  #fromDb(row: CallerTokenRow): CallerTokenRecord {
    const r = callerTokenRecord(row);
    return { ...r, createdAt: this.#conn.fromDb(r.createdAt), expiresAt: this.#conn.fromDb(r.expiresAt), revokedAt: this.#conn.fromDb(r.revokedAt) };
  }
}
