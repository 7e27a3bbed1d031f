import type { Sealer } from "../../crypto/index.js";
import { openAuthFlow, openDeviceFlow, sealAuthFlow, sealDeviceFlow, type AuthFlowRow, type DeviceFlowRow } from "../flow-codec.js";
import type { AuthFlow, DeviceFlow, FlowStore } from "../flow-store.js";
import type { PgConnection } from "./connection.js";

const FLOW_TIMES = ["created_at", "expires_at", "next_poll_at"] as const;

/** FlowStore over `auth_flows` and `device_flows` (migration 2); each method is one statement, times in the database's clock. */
export class PgFlows implements FlowStore {
  readonly #conn: PgConnection;
  readonly #sealer: Sealer;

  constructor(conn: PgConnection, sealer: Sealer) {
    this.#conn = conn;
    this.#sealer = sealer;
  }

  async createAuthFlow(f: AuthFlow): Promise<void> {
    const r = sealAuthFlow(this.#sealer, f);
    await this.#conn.query(
      "flows.createAuthFlow",
      `INSERT INTO auth_flows (state_hash, provider_id, user_id, code_verifier, redirect_after, created_at, expires_at)
       VALUES ($1, $2, $3, $4, $5, $6, $7)`,
      [r.state_hash, r.provider_id, r.user_id, r.code_verifier, r.redirect_after, this.#conn.toDb(r.created_at), this.#conn.toDb(r.expires_at)],
    );
  }

  /** Deleted on read (single use) even when expired, so a stale state cannot be tried twice. */
  async takeAuthFlow(stateHash: string, now: number): Promise<AuthFlow | undefined> {
    const [row] = await this.#conn.query<AuthFlowRow>("flows.takeAuthFlow", "DELETE FROM auth_flows WHERE state_hash = $1 RETURNING *", [stateHash]);
    if (row === undefined) return undefined;
    const flow = openAuthFlow(this.#sealer, this.#fromDb(row));
    return flow.expiresAt <= now ? undefined : flow;
  }

  async createDeviceFlow(f: DeviceFlow): Promise<void> {
    const r = sealDeviceFlow(this.#sealer, f);
    await this.#conn.query(
      "flows.createDeviceFlow",
      `INSERT INTO device_flows (session_hash, provider_id, user_id, device_code, interval_ms, next_poll_at, created_at, expires_at)
       VALUES ($1, $2, $3, $4, $5, $6, $7, $8)`,
      [r.session_hash, r.provider_id, r.user_id, r.device_code, r.interval_ms, this.#conn.toDb(r.next_poll_at), this.#conn.toDb(r.created_at), this.#conn.toDb(r.expires_at)],
    );
  }

  async getDeviceFlow(sessionHash: string): Promise<DeviceFlow | undefined> {
    const [row] = await this.#conn.query<DeviceFlowRow>("flows.getDeviceFlow", "SELECT * FROM device_flows WHERE session_hash = $1", [sessionHash]);
    return row === undefined ? undefined : openDeviceFlow(this.#sealer, this.#fromDb(row));
  }

  async claimDevicePoll(sessionHash: string, now: number, intervalMs: number): Promise<DeviceFlow | undefined> {
    const [row] = await this.#conn.query<DeviceFlowRow>(
      "flows.claimDevicePoll",
      "UPDATE device_flows SET interval_ms = $1, next_poll_at = $2 WHERE session_hash = $3 AND next_poll_at <= $4 RETURNING *",
      [intervalMs, this.#conn.toDb(now + intervalMs), sessionHash, this.#conn.toDb(now)],
    );
    return row === undefined ? undefined : openDeviceFlow(this.#sealer, this.#fromDb(row));
  }

  async setDevicePoll(sessionHash: string, intervalMs: number, nextPollAt: number): Promise<void> {
    await this.#conn.query("flows.setDevicePoll", "UPDATE device_flows SET interval_ms = $1, next_poll_at = $2 WHERE session_hash = $3", [
      intervalMs,
      this.#conn.toDb(nextPollAt),
      sessionHash,
    ]);
  }

  async deleteDeviceFlow(sessionHash: string): Promise<void> {
    await this.#conn.query("flows.deleteDeviceFlow", "DELETE FROM device_flows WHERE session_hash = $1", [sessionHash]);
  }

  async purgeExpiredFlows(now: number): Promise<number> {
    const [row] = await this.#conn.query<{ n: number }>(
      "flows.purgeExpiredFlows",
      `WITH a AS (DELETE FROM auth_flows WHERE expires_at <= $1 RETURNING 1),
            d AS (DELETE FROM device_flows WHERE expires_at <= $1 RETURNING 1)
       SELECT ((SELECT count(*) FROM a) + (SELECT count(*) FROM d))::int8 AS n`,
      [this.#conn.toDb(now)],
    );
    return row?.n ?? 0;
  }

  #fromDb<R extends Partial<Record<(typeof FLOW_TIMES)[number], number>>>(row: R): R {
    const out = { ...row };
    for (const column of FLOW_TIMES) {
      const v = out[column];
      if (typeof v === "number") (out as Record<string, number>)[column] = this.#conn.fromDb(v);
    }
    return out;
  }
}
