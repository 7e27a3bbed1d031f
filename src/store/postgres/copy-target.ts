import type { CallerTokenRow } from "../caller-token-store.js";
import type { AuthFlowRow, DeviceFlowRow } from "../flow-codec.js";
import type { LinkKey } from "../link-store.js";
import type { LinkRow } from "../row-codec.js";
import type { CopyTarget, CopyWriter, SentinelRow, TableCounts } from "../store-copy.js";
import { PgConnection, type PgConnectionOptions, type Queryer } from "./connection.js";

const LINK_COLUMNS = [
  "provider_id", "user_id", "version", "access_token", "token_type", "refresh_token", "refresh_token_digest", "expires_at",
  "extra", "failure_reason", "failed_at", "lease_owner", "lease_until", "generation", "created_at", "updated_at",
  "last_refreshed_at", "refresh_sent_at", "refresh_sent_by", "refresh_sent_digest", "failed_digest",
  "account", "granted_scopes",
] as const satisfies ReadonlyArray<keyof LinkRow>;
const AUTH_COLUMNS = ["state_hash", "provider_id", "user_id", "code_verifier", "redirect_after", "created_at", "expires_at"] as const satisfies ReadonlyArray<keyof AuthFlowRow>;
const DEVICE_COLUMNS = ["session_hash", "provider_id", "user_id", "device_code", "interval_ms", "next_poll_at", "created_at", "expires_at"] as const satisfies ReadonlyArray<keyof DeviceFlowRow>;
const SENTINEL_COLUMNS = ["key_id", "envelope", "created_at"] as const satisfies ReadonlyArray<keyof SentinelRow>;
const CALLER_TOKEN_COLUMNS = [
  "id", "token_sha256", "user_id", "provider_ids", "scopes", "label", "issued_by", "created_at", "expires_at", "revoked_at",
] as const satisfies ReadonlyArray<keyof CallerTokenRow>;
/** PostgreSQL takes at most 65,535 parameters per statement. */
const MAX_PARAMS = 60_000;

export interface PgCopyTarget extends CopyTarget {
  close(): Promise<void>;
}

/**
 * A PostgreSQL database as the target of `store migrate`: opened like the
 * store (migrations applied first, a newer schema refused), every copy in
 * one transaction that locks the copied tables against writers (EXCLUSIVE:
 * a daemon already running on the target may still read). Times are
 * copied as stored, epoch ms for epoch ms: no clock offset is applied
 * (issue 23 item 9: an offset measured at open moved every time by it).
 */
export async function openPostgresCopyTarget(opts: PgConnectionOptions): Promise<PgCopyTarget> {
  const conn = await PgConnection.open({ poolSize: 1, ...opts });
  const insert = async <R extends object>(q: Queryer, table: string, columns: ReadonlyArray<keyof R & string>, rows: readonly R[]): Promise<void> => {
    const per = Math.floor(MAX_PARAMS / columns.length);
    for (let start = 0; start < rows.length; start += per) {
      const chunk = rows.slice(start, start + per);
      const values: unknown[] = [];
      const tuples = chunk.map((row) => `(${columns.map((c) => `$${values.push(row[c])}`).join(", ")})`);
      await q.query(`INSERT INTO ${table} (${columns.join(", ")}) VALUES ${tuples.join(", ")}`, values);
    }
  };
  const writer = (q: Queryer): CopyWriter => ({
    async counts(): Promise<TableCounts> {
      const [r] = await q.query<TableCounts>(
        `SELECT (SELECT count(*) FROM links)::int8 AS links, (SELECT count(*) FROM auth_flows)::int8 AS auth_flows,
                (SELECT count(*) FROM device_flows)::int8 AS device_flows, (SELECT count(*) FROM key_sentinels)::int8 AS key_sentinels,
                (SELECT count(*) FROM caller_tokens)::int8 AS caller_tokens`,
      );
      if (r === undefined) throw new Error("the target did not answer its row counts");
      return r;
    },
    async clear() {
      await q.query("DELETE FROM links");
      await q.query("DELETE FROM auth_flows");
      await q.query("DELETE FROM device_flows");
      await q.query("DELETE FROM key_sentinels");
      await q.query("DELETE FROM caller_tokens");
    },
    insertLinks: (rows) => insert(q, "links", LINK_COLUMNS, rows),
    insertAuthFlows: (rows) => insert(q, "auth_flows", AUTH_COLUMNS, rows),
    insertDeviceFlows: (rows) => insert(q, "device_flows", DEVICE_COLUMNS, rows),
    insertSentinels: (rows) => insert(q, "key_sentinels", SENTINEL_COLUMNS, rows),
    insertCallerTokens: (rows) => insert(q, "caller_tokens", CALLER_TOKEN_COLUMNS, rows),
    async readLinks(keys: readonly LinkKey[]) {
      const rows = await q.query<LinkRow>(
        "SELECT l.* FROM links l JOIN unnest($1::text[], $2::text[]) AS k(p, u) ON l.provider_id = k.p AND l.user_id = k.u",
        [keys.map((k) => k.providerId), keys.map((k) => k.userId)],
      );
      return rows;
    },
    authFlows: async () => q.query<AuthFlowRow>("SELECT * FROM auth_flows"),
    deviceFlows: async () => q.query<DeviceFlowRow>("SELECT * FROM device_flows"),
    sentinels: async () => q.query<SentinelRow>("SELECT key_id, envelope, created_at FROM key_sentinels"),
  });
  return {
    transaction: (body) =>
      conn.tx("store.migrate", async (q) => {
        await q.query("LOCK TABLE links, auth_flows, device_flows, key_sentinels, caller_tokens IN EXCLUSIVE MODE");
        return body(writer(q));
      }),
    close: () => conn.close(),
  };
}
