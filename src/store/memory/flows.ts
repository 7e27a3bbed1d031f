import type { Sealer } from "../../crypto/index.js";
import { openAuthFlow, openDeviceFlow, sealAuthFlow, sealDeviceFlow } from "../flow-codec.js";
import type { AuthFlow, DeviceFlow, FlowStore } from "../flow-store.js";
import type { MemoryConnection } from "./database.js";

/** FlowStore over a MemoryDatabase's flow Maps, with the SQLite store's semantics statement for statement (sqlite/flows.ts). */
export class MemoryFlows implements FlowStore {
  readonly #conn: MemoryConnection;
  readonly #sealer: Sealer;

  constructor(conn: MemoryConnection, sealer: Sealer) {
    this.#conn = conn;
    this.#sealer = sealer;
  }

  /** A state hash already stored is refused, as the primary key refuses it. */
  async createAuthFlow(f: AuthFlow): Promise<void> {
    const row = sealAuthFlow(this.#sealer, f);
    const flows = this.#conn.open().authFlows;
    if (flows.has(row.state_hash)) throw new Error("UNIQUE constraint failed: auth_flows.state_hash");
    flows.set(row.state_hash, row);
    this.#conn.wrote();
  }

  /** Deleted on read (single use) even when expired, so a stale state cannot be tried twice. */
  async takeAuthFlow(stateHash: string, now: number): Promise<AuthFlow | undefined> {
    const flows = this.#conn.open().authFlows;
    const row = flows.get(stateHash);
    if (row === undefined) return undefined;
    flows.delete(stateHash);
    this.#conn.wrote();
    return row.expires_at <= now ? undefined : openAuthFlow(this.#sealer, row);
  }

  async createDeviceFlow(f: DeviceFlow): Promise<void> {
    const row = sealDeviceFlow(this.#sealer, f);
    const flows = this.#conn.open().deviceFlows;
    if (flows.has(row.session_hash)) throw new Error("UNIQUE constraint failed: device_flows.session_hash");
    flows.set(row.session_hash, row);
    this.#conn.wrote();
  }

  async getDeviceFlow(sessionHash: string): Promise<DeviceFlow | undefined> {
    const row = this.#conn.open().deviceFlows.get(sessionHash);
    return row === undefined ? undefined : openDeviceFlow(this.#sealer, row);
  }

  /** One poller at a time: only a flow whose next poll is due is claimed. */
  async claimDevicePoll(sessionHash: string, now: number, intervalMs: number): Promise<DeviceFlow | undefined> {
    const flows = this.#conn.open().deviceFlows;
    const row = flows.get(sessionHash);
    if (row === undefined || row.next_poll_at > now) return undefined;
    const claimed = { ...row, interval_ms: intervalMs, next_poll_at: now + intervalMs };
    flows.set(sessionHash, claimed);
    this.#conn.wrote();
    return openDeviceFlow(this.#sealer, claimed);
  }

  async setDevicePoll(sessionHash: string, intervalMs: number, nextPollAt: number): Promise<void> {
    const flows = this.#conn.open().deviceFlows;
    const row = flows.get(sessionHash);
    if (row === undefined) return;
    flows.set(sessionHash, { ...row, interval_ms: intervalMs, next_poll_at: nextPollAt });
    this.#conn.wrote();
  }

  async deleteDeviceFlow(sessionHash: string): Promise<void> {
    if (this.#conn.open().deviceFlows.delete(sessionHash)) this.#conn.wrote();
  }

  async purgeExpiredFlows(now: number): Promise<number> {
    const db = this.#conn.open();
    let n = 0;
    for (const flows of [db.authFlows, db.deviceFlows]) {
      for (const [hash, row] of flows) {
        if (row.expires_at > now) continue;
        flows.delete(hash);
        n++;
      }
    }
    if (n > 0) this.#conn.wrote();
    return n;
  }
}
