import type { Sealer } from "../../crypto/index.js";
import { authFlowContext, deviceFlowContext, type AuthFlowRow, type DeviceFlowRow } from "../flow-codec.js";
import type { KeySentinel, KeyringStore, ResealBatch } from "../keyring-store.js";
import type { LinkKey } from "../link-store.js";
import { checkSentinelArgs, countKeyIds, resealBatch, resealLinkRow, resealValue, type ResealRow } from "../reseal-codec.js";
import { SEALED_COLUMNS } from "../row-codec.js";
import type { PgConnection } from "./connection.js";

/** Every sealed value of every table, for the census; NULLs are skipped. */
const SEALED_VALUES = [
  ...SEALED_COLUMNS.map((c) => `SELECT ${c} AS v FROM links WHERE ${c} IS NOT NULL`),
  "SELECT code_verifier FROM auth_flows WHERE code_verifier IS NOT NULL",
  "SELECT device_code FROM device_flows",
].join(" UNION ALL ");

/** SET expressions read the row's old values, so the CASE compares with the old digest (docs/design.md §4.3). */
const RESEAL_LINK = `
  UPDATE links SET access_token = $4, refresh_token = $5, refresh_token_digest = $6, extra = $7, failure_reason = $8,
    refresh_sent_digest = CASE WHEN refresh_sent_digest = refresh_token_digest THEN $6 ELSE refresh_sent_digest END
  WHERE provider_id = $1 AND user_id = $2 AND version = $3
  RETURNING 1`;

/**
 * KeyringStore over `key_sentinels` and the sealed columns of every table.
 * Re-sealing follows store/reseal-codec.ts: one batch of links per
 * transaction, each row written back only if its version is unchanged (a
 * refresh that committed meanwhile wins, and its values are already under
 * the active key).
 */
export class PgKeyring implements KeyringStore {
  readonly #conn: PgConnection;
  readonly #sealer: Sealer;

  constructor(conn: PgConnection, sealer: Sealer) {
    this.#conn = conn;
    this.#sealer = sealer;
  }

  async listSentinels(): Promise<KeySentinel[]> {
    const rows = await this.#conn.query<{ key_id: string; envelope: Buffer; created_at: number }>(
      "keyring.listSentinels",
      "SELECT key_id, envelope, created_at FROM key_sentinels ORDER BY created_at, key_id",
    );
    return rows.map((r) => ({ keyId: r.key_id, envelope: r.envelope, createdAt: this.#conn.fromDb(r.created_at) }));
  }

  async putSentinel(keyId: string, envelope: Uint8Array, now: number): Promise<boolean> {
    checkSentinelArgs(keyId, now);
    const rows = await this.#conn.query(
      "keyring.putSentinel",
      "INSERT INTO key_sentinels (key_id, envelope, created_at) VALUES ($1, $2, $3) ON CONFLICT (key_id) DO NOTHING RETURNING 1",
      [keyId, Buffer.from(envelope.buffer, envelope.byteOffset, envelope.byteLength), this.#conn.toDb(now)],
    );
    return rows.length === 1;
  }

  /** One pass over envelope headers; nothing is decrypted. */
  async countByKeyId(): Promise<Map<string, number>> {
    const rows = await this.#conn.query<{ v: Buffer }>("keyring.countByKeyId", SEALED_VALUES);
    return countKeyIds(this.#sealer, rows.map((r) => r.v));
  }

  async reseal(after: LinkKey | undefined, limit: number): Promise<ResealBatch> {
    if (after === undefined) await this.#resealFlows();
    return this.#conn.tx("keyring.reseal", async (q) => {
      const rows = await q.query<ResealRow>(
        `SELECT provider_id, user_id, version, access_token, refresh_token, refresh_token_digest, extra, failure_reason
         FROM links WHERE (provider_id, user_id) > ($1, $2) ORDER BY provider_id, user_id LIMIT $3 FOR UPDATE`,
        [after?.providerId ?? "", after?.userId ?? "", limit],
      );
      let resealed = 0;
      for (const row of rows) {
        const next = resealLinkRow(this.#sealer, row);
        if (next === undefined) continue;
        const params = [row.provider_id, row.user_id, row.version, next.access_token, next.refresh_token, next.refresh_token_digest, next.extra, next.failure_reason];
        resealed += (await q.query(RESEAL_LINK, params)).length;
      }
      return resealBatch(rows, limit, resealed);
    });
  }

  async #resealFlows(): Promise<number> {
    return this.#conn.tx("keyring.reseal", async (q) => {
      let n = 0;
      for (const r of await q.query<AuthFlowRow>("SELECT * FROM auth_flows WHERE code_verifier IS NOT NULL FOR UPDATE")) {
        const next = r.code_verifier === null ? undefined : resealValue(this.#sealer, r.code_verifier, authFlowContext(r.provider_id, r.user_id));
        if (next !== undefined) n += (await q.query("UPDATE auth_flows SET code_verifier = $1 WHERE state_hash = $2 RETURNING 1", [next, r.state_hash])).length;
      }
      for (const r of await q.query<DeviceFlowRow>("SELECT * FROM device_flows FOR UPDATE")) {
        const next = resealValue(this.#sealer, r.device_code, deviceFlowContext(r.provider_id, r.user_id));
        if (next !== undefined) n += (await q.query("UPDATE device_flows SET device_code = $1 WHERE session_hash = $2 RETURNING 1", [next, r.session_hash])).length;
      }
      return n;
    });
  }
}
