import type { Statement } from "better-sqlite3";
import type { Sealer } from "../../crypto/index.js";
import type { AuthFlow, DeviceFlow, FlowStore } from "../flow-store.js";
import { openAuthFlow, openDeviceFlow, sealAuthFlow, sealDeviceFlow, type AuthFlowRow, type DeviceFlowRow } from "../flow-codec.js";
import type { SqliteConnection } from "./connection.js";

/** FlowStore over the `auth_flows` and `device_flows` tables (migration 2). Each method is one statement. */
export class SqliteFlows implements FlowStore {
  readonly #conn: SqliteConnection;
  readonly #sealer: Sealer;
  readonly #s: {
    insertAuth: Statement<[AuthFlowRow]>;
    takeAuth: Statement<[string], AuthFlowRow>;
    insertDevice: Statement<[DeviceFlowRow]>;
    getDevice: Statement<[string], DeviceFlowRow>;
    claimPoll: Statement<[number, number, string, number], DeviceFlowRow>;
    setPoll: Statement<[number, number, string]>;
    deleteDevice: Statement<[string]>;
    purgeAuth: Statement<[number]>;
    purgeDevice: Statement<[number]>;
  };

  constructor(conn: SqliteConnection, sealer: Sealer) {
    const db = conn.db;
    this.#conn = conn;
    this.#sealer = sealer;
    this.#s = {
      insertAuth: db.prepare(`INSERT INTO auth_flows (state_hash, provider_id, user_id, code_verifier, redirect_after, created_at, expires_at)
        VALUES (@state_hash, @provider_id, @user_id, @code_verifier, @redirect_after, @created_at, @expires_at)`),
      takeAuth: db.prepare("DELETE FROM auth_flows WHERE state_hash = ? RETURNING *"),
      insertDevice: db.prepare(`INSERT INTO device_flows (session_hash, provider_id, user_id, device_code, interval_ms, next_poll_at, created_at, expires_at)
        VALUES (@session_hash, @provider_id, @user_id, @device_code, @interval_ms, @next_poll_at, @created_at, @expires_at)`),
      getDevice: db.prepare("SELECT * FROM device_flows WHERE session_hash = ?"),
      claimPoll: db.prepare("UPDATE device_flows SET interval_ms = ?, next_poll_at = ? WHERE session_hash = ? AND next_poll_at <= ? RETURNING *"),
      setPoll: db.prepare("UPDATE device_flows SET interval_ms = ?, next_poll_at = ? WHERE session_hash = ?"),
      deleteDevice: db.prepare("DELETE FROM device_flows WHERE session_hash = ?"),
      purgeAuth: db.prepare("DELETE FROM auth_flows WHERE expires_at <= ?"),
      purgeDevice: db.prepare("DELETE FROM device_flows WHERE expires_at <= ?"),
    };
  }

  async createAuthFlow(f: AuthFlow): Promise<void> {
    const row = sealAuthFlow(this.#sealer, f);
    await this.#conn.run("flows.createAuthFlow", () => this.#s.insertAuth.run(row));
  }

  /** Deleted on read (single use) even when expired, so a stale state cannot be tried twice. */
  async takeAuthFlow(stateHash: string, now: number): Promise<AuthFlow | undefined> {
    const row = await this.#conn.run("flows.takeAuthFlow", () => this.#s.takeAuth.get(stateHash));
    if (row === undefined || row.expires_at <= now) return undefined;
    return openAuthFlow(this.#sealer, row);
  }

  async createDeviceFlow(f: DeviceFlow): Promise<void> {
    const row = sealDeviceFlow(this.#sealer, f);
    await this.#conn.run("flows.createDeviceFlow", () => this.#s.insertDevice.run(row));
  }

  async getDeviceFlow(sessionHash: string): Promise<DeviceFlow | undefined> {
    const row = await this.#conn.run("flows.getDeviceFlow", () => this.#s.getDevice.get(sessionHash));
    return row === undefined ? undefined : openDeviceFlow(this.#sealer, row);
  }

  async claimDevicePoll(sessionHash: string, now: number, intervalMs: number): Promise<DeviceFlow | undefined> {
    const row = await this.#conn.run("flows.claimDevicePoll", () => this.#s.claimPoll.get(intervalMs, now + intervalMs, sessionHash, now));
    return row === undefined ? undefined : openDeviceFlow(this.#sealer, row);
  }

  async setDevicePoll(sessionHash: string, intervalMs: number, nextPollAt: number): Promise<void> {
    await this.#conn.run("flows.setDevicePoll", () => this.#s.setPoll.run(intervalMs, nextPollAt, sessionHash));
  }

  async deleteDeviceFlow(sessionHash: string): Promise<void> {
    await this.#conn.run("flows.deleteDeviceFlow", () => this.#s.deleteDevice.run(sessionHash));
  }

  async purgeExpiredFlows(now: number): Promise<number> {
    return this.#conn.write("flows.purgeExpiredFlows", () => this.#s.purgeAuth.run(now).changes + this.#s.purgeDevice.run(now).changes);
  }
}
