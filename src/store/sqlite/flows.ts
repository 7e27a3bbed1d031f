import type { Statement } from "better-sqlite3";
import type { SealContext, Sealer } from "../../crypto/index.js";
import type { AuthFlow, DeviceFlow, FlowStore } from "../flow-store.js";
import type { SqliteConnection } from "./connection.js";

export interface AuthFlowRow {
  state_hash: string;
  provider_id: string;
  user_id: string;
  code_verifier: Buffer | null;
  redirect_after: string | null;
  created_at: number;
  expires_at: number;
}

export interface DeviceFlowRow {
  session_hash: string;
  provider_id: string;
  user_id: string;
  device_code: Buffer;
  interval_ms: number;
  next_poll_at: number;
  created_at: number;
  expires_at: number;
}

/** Where each flow secret is sealed for (re-sealing needs the same contexts). */
export const authFlowContext = (providerId: string, userId: string): SealContext => ({ table: "auth_flows", column: "code_verifier", providerId, userId });
export const deviceFlowContext = (providerId: string, userId: string): SealContext => ({ table: "device_flows", column: "device_code", providerId, userId });

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
    const row: AuthFlowRow = {
      state_hash: f.stateHash,
      provider_id: f.providerId,
      user_id: f.userId,
      code_verifier: f.codeVerifier === null || f.codeVerifier === "" ? null : this.#sealer.seal(f.codeVerifier, authFlowContext(f.providerId, f.userId)),
      redirect_after: f.redirectAfter,
      created_at: f.createdAt,
      expires_at: f.expiresAt,
    };
    await this.#conn.run("flows.createAuthFlow", () => this.#s.insertAuth.run(row));
  }

  /** Deleted on read (single use) even when expired, so a stale state cannot be tried twice. */
  async takeAuthFlow(stateHash: string, now: number): Promise<AuthFlow | undefined> {
    const row = await this.#conn.run("flows.takeAuthFlow", () => this.#s.takeAuth.get(stateHash));
    if (row === undefined || row.expires_at <= now) return undefined;
    return {
      stateHash: row.state_hash,
      providerId: row.provider_id,
      userId: row.user_id,
      codeVerifier: row.code_verifier === null ? null : this.#sealer.open(row.code_verifier, authFlowContext(row.provider_id, row.user_id)),
      redirectAfter: row.redirect_after,
      createdAt: row.created_at,
      expiresAt: row.expires_at,
    };
  }

  async createDeviceFlow(f: DeviceFlow): Promise<void> {
    const row: DeviceFlowRow = {
      session_hash: f.sessionHash,
      provider_id: f.providerId,
      user_id: f.userId,
      device_code: this.#sealer.seal(f.deviceCode, deviceFlowContext(f.providerId, f.userId)),
      interval_ms: f.intervalMs,
      next_poll_at: f.nextPollAt,
      created_at: f.createdAt,
      expires_at: f.expiresAt,
    };
    await this.#conn.run("flows.createDeviceFlow", () => this.#s.insertDevice.run(row));
  }

  async getDeviceFlow(sessionHash: string): Promise<DeviceFlow | undefined> {
    const row = await this.#conn.run("flows.getDeviceFlow", () => this.#s.getDevice.get(sessionHash));
    return row === undefined ? undefined : this.#device(row);
  }

  async claimDevicePoll(sessionHash: string, now: number, intervalMs: number): Promise<DeviceFlow | undefined> {
    const row = await this.#conn.run("flows.claimDevicePoll", () => this.#s.claimPoll.get(intervalMs, now + intervalMs, sessionHash, now));
    return row === undefined ? undefined : this.#device(row);
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

  #device(row: DeviceFlowRow): DeviceFlow {
    return {
      sessionHash: row.session_hash,
      providerId: row.provider_id,
      userId: row.user_id,
      deviceCode: this.#sealer.open(row.device_code, deviceFlowContext(row.provider_id, row.user_id)),
      intervalMs: row.interval_ms,
      nextPollAt: row.next_poll_at,
      createdAt: row.created_at,
      expiresAt: row.expires_at,
    };
  }
}
