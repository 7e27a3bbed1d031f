import type { Statement } from "better-sqlite3";
import type { Sealer } from "../../crypto/index.js";
import type { ResealBatch } from "../keyring-store.js";
import type { LinkKey } from "../link-store.js";
import type { SqliteConnection } from "./connection.js";
import { authFlowContext, deviceFlowContext, type AuthFlowRow, type DeviceFlowRow } from "../flow-codec.js";
import { resealBatch, resealLinkRow, resealValue, type ResealRow } from "../reseal-codec.js";

/**
 * Key rotation's writer: re-seals every value not sealed under the active key
 * — links in key order, one batch per BEGIN IMMEDIATE transaction, and the
 * few short-lived pending flows all at once. It changes no plaintext, so it
 * leaves `version` alone: a refresh that read the row before the re-seal
 * still commits, because its compare-and-swap checks the version and the
 * refresh token's plaintext (via the self-describing digest), not bytes.
 *
 * The refresh-token digest is re-made under the active key too, and a
 * sending marker that named the stored token (refresh_sent_digest =
 * refresh_token_digest) moves with it: a rotation must never hide an
 * interrupted refresh.
 */
export class Resealer {
  readonly #conn: SqliteConnection;
  readonly #sealer: Sealer;
  readonly #page: Statement<[string, string, number], ResealRow>;
  readonly #update: Statement<[Record<string, unknown>]>;

  constructor(conn: SqliteConnection, sealer: Sealer) {
    this.#conn = conn;
    this.#sealer = sealer;
    this.#page = conn.db.prepare(`
      SELECT provider_id, user_id, version, access_token, refresh_token, refresh_token_digest, extra, failure_reason
      FROM links WHERE (provider_id, user_id) > (?, ?) ORDER BY provider_id, user_id LIMIT ?`);
    // SET expressions read the row's old values, so the CASE compares with the old digest.
    this.#update = conn.db.prepare(`
      UPDATE links SET access_token = @access_token, refresh_token = @refresh_token,
        refresh_token_digest = @refresh_token_digest, extra = @extra, failure_reason = @failure_reason,
        refresh_sent_digest = CASE WHEN refresh_sent_digest = refresh_token_digest THEN @refresh_token_digest ELSE refresh_sent_digest END
      WHERE provider_id = @provider_id AND user_id = @user_id AND version = @version`);
  }

  /** One batch of links after `after`. */
  links(after: LinkKey | undefined, limit: number): Promise<ResealBatch> {
    return this.#conn.write("keyring.reseal", () => this.#linkBatch(after, limit));
  }

  #linkBatch(after: LinkKey | undefined, limit: number): ResealBatch {
    const rows = this.#page.all(after?.providerId ?? "", after?.userId ?? "", limit);
    let resealed = 0;
    for (const row of rows) {
      const next = resealLinkRow(this.#sealer, row);
      if (next === undefined) continue;
      resealed += this.#update.run({ ...next, provider_id: row.provider_id, user_id: row.user_id, version: row.version }).changes;
    }
    return resealBatch(rows, limit, resealed);
  }

  /** Every pending flow's secret; returns how many were re-sealed. */
  flows(): Promise<number> {
    return this.#conn.write("keyring.reseal", () => this.#allFlows());
  }

  #allFlows(): number {
    const db = this.#conn.db;
    let n = 0;
    const auth = db.prepare<[], AuthFlowRow>("SELECT * FROM auth_flows WHERE code_verifier IS NOT NULL").all();
    const setAuth = db.prepare<[Buffer, string]>("UPDATE auth_flows SET code_verifier = ? WHERE state_hash = ?");
    for (const r of auth) {
      const next = r.code_verifier === null ? undefined : resealValue(this.#sealer, r.code_verifier, authFlowContext(r.provider_id, r.user_id));
      if (next !== undefined) n += setAuth.run(next, r.state_hash).changes;
    }
    const device = db.prepare<[], DeviceFlowRow>("SELECT * FROM device_flows").all();
    const setDevice = db.prepare<[Buffer, string]>("UPDATE device_flows SET device_code = ? WHERE session_hash = ?");
    for (const r of device) {
      const next = resealValue(this.#sealer, r.device_code, deviceFlowContext(r.provider_id, r.user_id));
      if (next !== undefined) n += setDevice.run(next, r.session_hash).changes;
    }
    return n;
  }
}
