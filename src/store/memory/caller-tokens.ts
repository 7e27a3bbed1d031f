import { callerTokenRecord, callerTokenRow, type CallerTokenRecord, type CallerTokenStore } from "../caller-token-store.js";
import type { MemoryConnection } from "./database.js";

/** CallerTokenStore over a MemoryDatabase's `callerTokens` Map, as sqlite/caller-tokens.ts. */
export class MemoryCallerTokens implements CallerTokenStore {
  readonly #conn: MemoryConnection;

  constructor(conn: MemoryConnection) {
    this.#conn = conn;
  }

  async insertCallerToken(r: CallerTokenRecord): Promise<void> {
    const rows = this.#conn.open().callerTokens;
    if (rows.has(r.id) || [...rows.values()].some((x) => x.token_sha256 === r.digest)) throw new Error("UNIQUE constraint failed: caller_tokens");
    rows.set(r.id, callerTokenRow(r));
    this.#conn.wrote();
  }

  async findCallerToken(digest: string): Promise<CallerTokenRecord | undefined> {
    for (const row of this.#conn.open().callerTokens.values()) if (row.token_sha256 === digest) return callerTokenRecord(row);
    return undefined;
  }

  async revokeCallerToken(id: string, now: number): Promise<boolean> {
    const row = this.#conn.open().callerTokens.get(id);
    if (row === undefined || row.revoked_at !== null || row.expires_at <= now) return false;
    row.revoked_at = now;
    this.#conn.wrote();
    return true;
  }

  async listCallerTokens(filter: { userId?: string | undefined; activeAt?: number | undefined }): Promise<CallerTokenRecord[]> {
    const at = filter.activeAt;
    return [...this.#conn.open().callerTokens.values()]
      .filter((r) => (filter.userId === undefined || r.user_id === filter.userId) && (at === undefined || (r.revoked_at === null && r.expires_at > at)))
      .sort((a, b) => b.created_at - a.created_at || (a.id < b.id ? -1 : 1))
      .map(callerTokenRecord);
  }
}
