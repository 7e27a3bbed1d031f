import type { Statement } from "better-sqlite3";
import { callerTokenRecord, callerTokenRow, type CallerTokenRecord, type CallerTokenRow, type CallerTokenStore } from "../caller-token-store.js";
import type { SqliteConnection } from "./connection.js";

/** CallerTokenStore over `caller_tokens` (migration 5). Each method is one statement. */
export class SqliteCallerTokens implements CallerTokenStore {
  readonly #conn: SqliteConnection;
  readonly #s: {
    insert: Statement<[CallerTokenRow]>;
    find: Statement<[string], CallerTokenRow>;
    revoke: Statement<[number, string, number]>;
    list: Statement<[{ user: string | null; at: number | null }], CallerTokenRow>;
  };

  constructor(conn: SqliteConnection) {
    this.#conn = conn;
    const db = conn.db;
    this.#s = {
      insert: db.prepare(`INSERT INTO caller_tokens (id, token_sha256, user_id, provider_ids, scopes, label, issued_by, created_at, expires_at, revoked_at)
        VALUES (@id, @token_sha256, @user_id, @provider_ids, @scopes, @label, @issued_by, @created_at, @expires_at, @revoked_at)`),
      find: db.prepare("SELECT * FROM caller_tokens WHERE token_sha256 = ?"),
      revoke: db.prepare("UPDATE caller_tokens SET revoked_at = ? WHERE id = ? AND revoked_at IS NULL AND expires_at > ?"),
      list: db.prepare(`SELECT * FROM caller_tokens WHERE (@user IS NULL OR user_id = @user)
        AND (@at IS NULL OR (revoked_at IS NULL AND expires_at > @at)) ORDER BY created_at DESC, id`),
    };
  }

  async insertCallerToken(r: CallerTokenRecord): Promise<void> {
    const row = callerTokenRow(r);
    await this.#conn.run("callerTokens.insert", () => this.#s.insert.run(row));
  }

  async findCallerToken(digest: string): Promise<CallerTokenRecord | undefined> {
    const row = await this.#conn.run("callerTokens.find", () => this.#s.find.get(digest));
    return row === undefined ? undefined : callerTokenRecord(row);
  }

  async revokeCallerToken(id: string, now: number): Promise<boolean> {
    return this.#conn.run("callerTokens.revoke", () => this.#s.revoke.run(now, id, now).changes === 1);
  }

  async listCallerTokens(filter: { userId?: string | undefined; activeAt?: number | undefined }): Promise<CallerTokenRecord[]> {
    const user = filter.userId ?? null;
    const at = filter.activeAt ?? null;
    const rows = await this.#conn.run("callerTokens.list", () => this.#s.list.all({ user, at }));
    return rows.map(callerTokenRecord);
  }
}
