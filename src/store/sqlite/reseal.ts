import type Database from "better-sqlite3";
import type { Sealer } from "../../crypto/sealer.js";
import type { LinkKey } from "../link-store.js";
import { LINKS_TABLE, SEALED_COLUMNS } from "./row-codec.js";

export interface ResealBatch {
  /** Rows whose values were re-sealed under the active key. */
  resealed: number;
  /** Rows looked at. */
  scanned: number;
  /** Where the next batch starts; undefined when the table is done. */
  next: LinkKey | undefined;
}

interface ResealRow {
  provider_id: string;
  user_id: string;
  version: number;
  access_token: Buffer | null;
  refresh_token: Buffer | null;
  refresh_token_digest: string | null;
  extra: Buffer | null;
  failure_reason: Buffer | null;
}

/**
 * Key rotation: walks `links` in key order, one batch per BEGIN IMMEDIATE
 * transaction, and re-seals every value not sealed under the active key
 * (and the refresh-token digest with it). It changes no plaintext, so it
 * leaves `version` alone: a refresh that read the row before the re-seal
 * still commits, because its compare-and-swap checks the version and the
 * refresh token's plaintext (via the self-describing digest), not bytes.
 */
export function createResealer(db: Database.Database, sealer: Sealer): (after: LinkKey | undefined, limit: number) => ResealBatch {
  const page = db.prepare<[string, string, number], ResealRow>(`
    SELECT provider_id, user_id, version, access_token, refresh_token, refresh_token_digest, extra, failure_reason
    FROM links WHERE (provider_id, user_id) > (?, ?) ORDER BY provider_id, user_id LIMIT ?`);
  const update = db.prepare(`
    UPDATE links SET access_token = @access_token, refresh_token = @refresh_token,
      refresh_token_digest = @refresh_token_digest, extra = @extra, failure_reason = @failure_reason
    WHERE provider_id = @provider_id AND user_id = @user_id AND version = @version`);

  const batch = db.transaction((after: LinkKey | undefined, limit: number): ResealBatch => {
    const rows = page.all(after?.providerId ?? "", after?.userId ?? "", limit);
    let resealed = 0;
    for (const row of rows) {
      const stale = SEALED_COLUMNS.some((c) => {
        const v = row[c];
        return v !== null && sealer.keyIdOf(v) !== sealer.activeKeyId;
      });
      const staleDigest = row.refresh_token_digest !== null && !row.refresh_token_digest.startsWith(`${sealer.activeKeyId}:`);
      if (!stale && !staleDigest) continue;
      const next: Record<string, unknown> = { provider_id: row.provider_id, user_id: row.user_id, version: row.version };
      let refreshPlain: string | undefined;
      for (const column of SEALED_COLUMNS) {
        const v = row[column];
        if (v === null) {
          next[column] = null;
          continue;
        }
        const ctx = { table: LINKS_TABLE, column, providerId: row.provider_id, userId: row.user_id };
        const plain = sealer.open(v, ctx);
        if (column === "refresh_token") refreshPlain = plain;
        next[column] = sealer.keyIdOf(v) === sealer.activeKeyId ? v : sealer.seal(plain, ctx);
      }
      next.refresh_token_digest = refreshPlain === undefined ? row.refresh_token_digest : sealer.digest(refreshPlain);
      resealed += update.run(next).changes;
    }
    const last = rows.at(-1);
    return {
      resealed,
      scanned: rows.length,
      next: rows.length < limit || last === undefined ? undefined : { providerId: last.provider_id, userId: last.user_id },
    };
  });
  return (after, limit) => batch.immediate(after, limit);
}
