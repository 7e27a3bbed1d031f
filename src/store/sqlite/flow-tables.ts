import type Database from "better-sqlite3";
import type { Sealer } from "../../crypto/sealer.js";
import type { AuthFlow, DeviceFlow, FlowStore } from "../flow-store.js";

interface AuthFlowRow {
  state_hash: string;
  provider_id: string;
  user_id: string;
  code_verifier: Buffer | null;
  redirect_after: string | null;
  created_at: number;
  expires_at: number;
}

interface DeviceFlowRow {
  session_hash: string;
  provider_id: string;
  user_id: string;
  device_code: Buffer;
  interval_ms: number;
  next_poll_at: number;
  created_at: number;
  expires_at: number;
}

/** FlowStore over the `auth_flows` and `device_flows` tables (migration 2). */
export class FlowTables implements FlowStore {
  readonly #db: Database.Database;
  readonly #sealer: Sealer;
  readonly #s;

  constructor(db: Database.Database, sealer: Sealer) {
    this.#db = db;
    this.#sealer = sealer;
    this.#s = {
      insertAuth: db.prepare<[AuthFlowRow]>(`INSERT INTO auth_flows (state_hash, provider_id, user_id, code_verifier, redirect_after, created_at, expires_at)
        VALUES (@state_hash, @provider_id, @user_id, @code_verifier, @redirect_after, @created_at, @expires_at)`),
      takeAuth: db.prepare<[string], AuthFlowRow>("DELETE FROM auth_flows WHERE state_hash = ? RETURNING *"),
      insertDevice: db.prepare<[DeviceFlowRow]>(`INSERT INTO device_flows (session_hash, provider_id, user_id, device_code, interval_ms, next_poll_at, created_at, expires_at)
        VALUES (@session_hash, @provider_id, @user_id, @device_code, @interval_ms, @next_poll_at, @created_at, @expires_at)`),
      getDevice: db.prepare<[string], DeviceFlowRow>("SELECT * FROM device_flows WHERE session_hash = ?"),
      claimPoll: db.prepare<[number, number, string, number], DeviceFlowRow>(
        "UPDATE device_flows SET interval_ms = ?, next_poll_at = ? WHERE session_hash = ? AND next_poll_at <= ? RETURNING *",
      ),
      setPoll: db.prepare<[number, number, string]>("UPDATE device_flows SET interval_ms = ?, next_poll_at = ? WHERE session_hash = ?"),
      deleteDevice: db.prepare<[string]>("DELETE FROM device_flows WHERE session_hash = ?"),
      purgeAuth: db.prepare<[number]>("DELETE FROM auth_flows WHERE expires_at <= ?"),
      purgeDevice: db.prepare<[number]>("DELETE FROM device_flows WHERE expires_at <= ?"),
    };
  }

  async createAuthFlow(f: AuthFlow): Promise<void> {
    const ctx = { table: "auth_flows", column: "code_verifier", providerId: f.providerId, userId: f.userId };
    this.#s.insertAuth.run({
      state_hash: f.stateHash,
      provider_id: f.providerId,
      user_id: f.userId,
      code_verifier: f.codeVerifier === null || f.codeVerifier === "" ? null : this.#sealer.seal(f.codeVerifier, ctx),
      redirect_after: f.redirectAfter,
      created_at: f.createdAt,
      expires_at: f.expiresAt,
    });
  }

  async takeAuthFlow(stateHash: string, now: number): Promise<AuthFlow | undefined> {
    const row = this.#db.transaction(() => this.#s.takeAuth.get(stateHash)).immediate();
    if (row === undefined || row.expires_at <= now) return undefined;
    const ctx = { table: "auth_flows", column: "code_verifier", providerId: row.provider_id, userId: row.user_id };
    return {
      stateHash: row.state_hash,
      providerId: row.provider_id,
      userId: row.user_id,
      codeVerifier: row.code_verifier === null ? null : this.#sealer.open(row.code_verifier, ctx),
      redirectAfter: row.redirect_after,
      createdAt: row.created_at,
      expiresAt: row.expires_at,
    };
  }

  async createDeviceFlow(f: DeviceFlow): Promise<void> {
    const ctx = { table: "device_flows", column: "device_code", providerId: f.providerId, userId: f.userId };
    this.#s.insertDevice.run({
      session_hash: f.sessionHash,
      provider_id: f.providerId,
      user_id: f.userId,
      device_code: this.#sealer.seal(f.deviceCode, ctx),
      interval_ms: f.intervalMs,
      next_poll_at: f.nextPollAt,
      created_at: f.createdAt,
      expires_at: f.expiresAt,
    });
  }

  async getDeviceFlow(sessionHash: string): Promise<DeviceFlow | undefined> {
    const row = this.#s.getDevice.get(sessionHash);
    return row === undefined ? undefined : this.#device(row);
  }

  async claimDevicePoll(sessionHash: string, now: number, intervalMs: number): Promise<DeviceFlow | undefined> {
    const row = this.#db.transaction(() => this.#s.claimPoll.get(intervalMs, now + intervalMs, sessionHash, now)).immediate();
    return row === undefined ? undefined : this.#device(row);
  }

  async setDevicePoll(sessionHash: string, intervalMs: number, nextPollAt: number): Promise<void> {
    this.#s.setPoll.run(intervalMs, nextPollAt, sessionHash);
  }

  async deleteDeviceFlow(sessionHash: string): Promise<void> {
    this.#s.deleteDevice.run(sessionHash);
  }

  async purgeExpiredFlows(now: number): Promise<number> {
    return this.#db.transaction(() => this.#s.purgeAuth.run(now).changes + this.#s.purgeDevice.run(now).changes).immediate();
  }

  /** Every sealed value in the flow tables (for per-key counts). */
  *sealedValues(): Generator<Buffer> {
    for (const r of this.#db.prepare<[], { v: Buffer }>("SELECT code_verifier AS v FROM auth_flows WHERE code_verifier IS NOT NULL").iterate()) yield r.v;
    for (const r of this.#db.prepare<[], { v: Buffer }>("SELECT device_code AS v FROM device_flows").iterate()) yield r.v;
  }

  /** Re-seals every pending flow's secret under the active key (they are few and short-lived). */
  resealAll(): number {
    const active = this.#sealer.activeKeyId;
    return this.#db
      .transaction(() => {
        let n = 0;
        const auth = this.#db.prepare<[], AuthFlowRow>("SELECT * FROM auth_flows WHERE code_verifier IS NOT NULL").all();
        const setAuth = this.#db.prepare<[Buffer, string]>("UPDATE auth_flows SET code_verifier = ? WHERE state_hash = ?");
        for (const r of auth) {
          if (r.code_verifier === null || this.#sealer.keyIdOf(r.code_verifier) === active) continue;
          const ctx = { table: "auth_flows", column: "code_verifier", providerId: r.provider_id, userId: r.user_id };
          n += setAuth.run(this.#sealer.seal(this.#sealer.open(r.code_verifier, ctx), ctx), r.state_hash).changes;
        }
        const device = this.#db.prepare<[], DeviceFlowRow>("SELECT * FROM device_flows").all();
        const setDevice = this.#db.prepare<[Buffer, string]>("UPDATE device_flows SET device_code = ? WHERE session_hash = ?");
        for (const r of device) {
          if (this.#sealer.keyIdOf(r.device_code) === active) continue;
          const ctx = { table: "device_flows", column: "device_code", providerId: r.provider_id, userId: r.user_id };
          n += setDevice.run(this.#sealer.seal(this.#sealer.open(r.device_code, ctx), ctx), r.session_hash).changes;
        }
        return n;
      })
      .immediate();
  }

  #device(row: DeviceFlowRow): DeviceFlow {
    const ctx = { table: "device_flows", column: "device_code", providerId: row.provider_id, userId: row.user_id };
    return {
      sessionHash: row.session_hash,
      providerId: row.provider_id,
      userId: row.user_id,
      deviceCode: this.#sealer.open(row.device_code, ctx),
      intervalMs: row.interval_ms,
      nextPollAt: row.next_poll_at,
      createdAt: row.created_at,
      expiresAt: row.expires_at,
    };
  }
}
