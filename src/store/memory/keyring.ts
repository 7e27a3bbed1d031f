import type { Sealer } from "../../crypto/index.js";
import { authFlowContext, deviceFlowContext } from "../flow-codec.js";
import type { KeySentinel, KeyringStore, ResealBatch } from "../keyring-store.js";
import type { LinkKey } from "../link-store.js";
import { linkKeyId } from "../link-store.js";
import { checkSentinelArgs, countKeyIds, resealBatch, resealLinkRow, resealValue, resealedMarker } from "../reseal-codec.js";
import { SEALED_COLUMNS } from "../row-codec.js";
import { compareBytes, compareKeys, type MemoryConnection } from "./database.js";

/**
 * KeyringStore over a MemoryDatabase: sentinels, the census of sealed values
 * and re-sealing, by the rules the SQL stores share (reseal-codec.ts). With
 * the default PlainSealer everything is under one key id and a re-seal finds
 * nothing to do; with a real Sealer it rotates like the SQL stores.
 */
export class MemoryKeyring implements KeyringStore {
  readonly #conn: MemoryConnection;
  readonly #sealer: Sealer;

  constructor(conn: MemoryConnection, sealer: Sealer) {
    this.#conn = conn;
    this.#sealer = sealer;
  }

  /** Oldest first, ties by key id (ORDER BY created_at, key_id). */
  async listSentinels(): Promise<KeySentinel[]> {
    const rows = [...this.#conn.open().sentinels.values()].sort((a, b) => a.created_at - b.created_at || compareBytes(a.key_id, b.key_id));
    return rows.map((r) => ({ keyId: r.key_id, envelope: Buffer.from(r.envelope), createdAt: r.created_at }));
  }

  /** The first sentinel per key id is kept. */
  async putSentinel(keyId: string, envelope: Uint8Array, now: number): Promise<boolean> {
    checkSentinelArgs(keyId, now);
    const sentinels = this.#conn.open().sentinels;
    if (sentinels.has(keyId)) return false;
    sentinels.set(keyId, { key_id: keyId, envelope: Buffer.from(envelope), created_at: now });
    this.#conn.wrote();
    return true;
  }

  async countByKeyId(): Promise<Map<string, number>> {
    const db = this.#conn.open();
    const values: Buffer[] = [];
    for (const row of db.links.values()) {
      for (const column of SEALED_COLUMNS) {
        const v = row[column];
        if (v !== null) values.push(v);
      }
    }
    for (const r of db.authFlows.values()) if (r.code_verifier !== null) values.push(r.code_verifier);
    for (const r of db.deviceFlows.values()) values.push(r.device_code);
    return countKeyIds(this.#sealer, values);
  }

  /** One batch of links in key order after `after`, and every pending flow with the first batch. Versions stay. */
  async reseal(after: LinkKey | undefined, limit: number): Promise<ResealBatch> {
    if (after === undefined) this.#resealFlows();
    const links = this.#conn.open().links;
    const from = { provider_id: after?.providerId ?? "", user_id: after?.userId ?? "" };
    const page = [...links.values()].filter((r) => compareKeys(r, from) > 0).sort(compareKeys).slice(0, limit);
    // Sealed before anything is written: a value that fails to open leaves the whole batch as it was, as a rolled-back transaction would.
    const next = page.map((row) => ({ row, values: resealLinkRow(this.#sealer, row) }));
    let resealed = 0;
    for (const { row, values } of next) {
      if (values === undefined) continue;
      links.set(linkKeyId({ providerId: row.provider_id, userId: row.user_id }), { ...row, ...values, refresh_sent_digest: resealedMarker(row, values.refresh_token_digest) });
      resealed++;
    }
    if (resealed > 0) this.#conn.wrote();
    return resealBatch(page, limit, resealed);
  }

  #resealFlows(): void {
    const db = this.#conn.open();
    const auth = [...db.authFlows.values()].map((r) => ({
      r,
      next: r.code_verifier === null ? undefined : resealValue(this.#sealer, r.code_verifier, authFlowContext(r.provider_id, r.user_id)),
    }));
    const device = [...db.deviceFlows.values()].map((r) => ({ r, next: resealValue(this.#sealer, r.device_code, deviceFlowContext(r.provider_id, r.user_id)) }));
    let n = 0;
    for (const { r, next } of auth) {
      if (next === undefined) continue;
      db.authFlows.set(r.state_hash, { ...r, code_verifier: next });
      n++;
    }
    for (const { r, next } of device) {
      if (next === undefined) continue;
      db.deviceFlows.set(r.session_hash, { ...r, device_code: next });
      n++;
    }
    if (n > 0) this.#conn.wrote();
  }
}
