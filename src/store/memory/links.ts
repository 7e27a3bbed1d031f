import type { Sealer } from "../../crypto/index.js";
import {
  claimAllows,
  claimedLease,
  confirmAllows,
  confirmedLease,
  grantedClaim,
  leaseStateOf,
  refusedClaim,
  releaseAllows,
  releasedLease,
  type ConfirmMark,
} from "../lease-core.js";
import { casAllows, checkArgs, commitRow, committedRecord, failureAllows, failureRow, putRecord, putRefreshToken, putRow } from "../link-core.js";
import type {
  CasExpectation,
  HeldLease,
  LeaseClaim,
  LeaseState,
  LinkKey,
  LinkMeta,
  LinkRecord,
  LinkStore,
  ListQuery,
  NewTokens,
  StoredTokens,
} from "../link-store.js";
import { linkKeyId } from "../link-store.js";
import { RecordCache } from "../record-cache.js";
import { RowCodec, decodeMeta, type LinkRow, type SealedTokens } from "../row-codec.js";
import { compareBytes, compareKeys, type MemoryConnection } from "./database.js";

/**
 * LinkStore over a MemoryDatabase's `links` Map: every decision is the
 * store core's (link-core.ts, lease-core.ts), every row is the SQL stores'
 * row, sealed through the same RowCodec. Each method's body is synchronous
 * (async only by signature), so a write is one atomic step and a
 * deterministic simulation decides every interleaving at the awaits.
 *
 * Records are cached like SQLite's (record-cache.ts): writes of this store
 * update their entry at once, and another store's write on the database
 * drops the whole cache (MemoryConnection.dataVersion).
 */
export class MemoryLinks implements LinkStore {
  readonly #conn: MemoryConnection;
  readonly #sealer: Sealer;
  readonly #codec: RowCodec;
  readonly #cache: RecordCache;
  /** The store core compares digests through the sealer (a keyed digest names its key). */
  readonly #digestMatches = (digest: string, plaintext: string): boolean => this.#sealer.digestMatches(digest, plaintext);

  constructor(conn: MemoryConnection, sealer: Sealer, cacheEntries: number) {
    this.#conn = conn;
    this.#sealer = sealer;
    this.#codec = new RowCodec(sealer);
    this.#cache = new RecordCache(cacheEntries, () => conn.dataVersion());
  }

  /** Records are shared with the cache: callers must not modify them. */
  async get(key: LinkKey): Promise<LinkRecord | undefined> {
    checkArgs.get(key);
    const rows = this.#rows();
    const ck = linkKeyId(key);
    const cached = this.#cache.get(ck);
    if (cached !== undefined) return cached;
    const row = rows.get(ck);
    if (row === undefined) return undefined;
    const record = this.#codec.decodeRecord(row);
    this.#cache.set(ck, record);
    return record;
  }

  /** An empty or null refresh token is stored as NULL; so is an empty access token or extra. */
  async put(key: LinkKey, tokens: StoredTokens, now: number): Promise<LinkRecord> {
    checkArgs.put(key, tokens, now);
    const sealed = this.#codec.sealTokens(key, { ...tokens, refreshToken: putRefreshToken(tokens) ?? undefined });
    const row = this.#upsert(key, sealed, now);
    return this.#remember(key, putRecord(key, tokens, { version: row.version, createdAt: row.created_at }, now));
  }

  #upsert(key: LinkKey, sealed: SealedTokens, now: number): LinkRow {
    const rows = this.#rows();
    const row = putRow(rows.get(linkKeyId(key)), key, sealed, now);
    rows.set(linkKeyId(key), row);
    this.#conn.wrote();
    return row;
  }

  /** Bulk import: everything is sealed before the first row is written, so it is all or nothing. */
  async putMany(items: Array<{ key: LinkKey; tokens: StoredTokens }>, now: number): Promise<number> {
    checkArgs.putMany(now);
    const sealed = items.map(({ key, tokens }) => {
      checkArgs.putManyItem(key, tokens);
      const refreshToken = putRefreshToken(tokens) ?? undefined;
      return { key, sealed: this.#codec.sealTokens(key, { ...tokens, refreshToken }) };
    });
    this.#rows();
    for (const item of sealed) {
      this.#upsert(item.key, item.sealed, now);
      this.#cache.delete(linkKeyId(item.key));
    }
    return sealed.length;
  }

  /** Compare-and-swap on (version, refresh-token digest), or a heal (failed_digest): link-core.ts casAllows. */
  async commitRefresh(key: LinkKey, expect: CasExpectation, tokens: NewTokens, now: number): Promise<LinkRecord | undefined> {
    checkArgs.commitRefresh(key, expect, tokens, now);
    const sealed = this.#codec.sealCommit(key, tokens, expect.refreshToken);
    const rows = this.#rows();
    const before = rows.get(linkKeyId(key));
    if (!casAllows(before, expect, this.#digestMatches)) return undefined;
    rows.set(linkKeyId(key), commitRow(before, sealed, now));
    this.#conn.wrote();
    this.#cache.delete(linkKeyId(key));
    const keptExtra = (): Record<string, string> => this.#codec.openExtra(key, before.extra);
    return this.#remember(key, committedRecord(key, { ...before, createdAt: before.created_at }, expect, tokens, sealed, keptExtra, now));
  }

  async recordFailure(key: LinkKey, refreshToken: string, reason: string, now: number): Promise<boolean> {
    checkArgs.recordFailure(key, refreshToken, reason, now);
    const sealedReason = this.#codec.seal(key, "failure_reason", reason);
    const rows = this.#rows();
    const row = rows.get(linkKeyId(key));
    if (row === undefined || failureAllows(row, refreshToken, this.#digestMatches) === undefined) return false;
    rows.set(linkKeyId(key), failureRow(row, sealedReason, now));
    this.#conn.wrote();
    this.#cache.delete(linkKeyId(key));
    return true;
  }

  /** Every lease time is the database's clock (MemoryDatabase.clock), read once per call. */
  async readLease(key: LinkKey): Promise<LeaseState | null | undefined> {
    checkArgs.readLease(key);
    const db = this.#conn.open();
    const row = db.links.get(linkKeyId(key));
    return row === undefined ? undefined : leaseStateOf(row, db.clock.now());
  }

  /** The claimed row is opened before the claim is written, so a row that fails to open stays unclaimed. */
  async claimLease(key: LinkKey, owner: string, ttlMs: number, expect: HeldLease | null, opts: { onlyIfExpired?: boolean } = {}): Promise<LeaseClaim> {
    checkArgs.claimLease(key, owner, ttlMs, expect, opts);
    const db = this.#conn.open();
    const now = db.clock.now();
    const row = db.links.get(linkKeyId(key));
    if (row === undefined || !claimAllows(row, expect, now, opts.onlyIfExpired === true)) return refusedClaim(row, now);
    const claimed: LinkRow = { ...row, ...claimedLease(row, owner, now + ttlMs) };
    const record = this.#codec.decodeRecord(claimed);
    db.links.set(linkKeyId(key), claimed);
    this.#conn.wrote();
    return grantedClaim(claimed, owner, record, now);
  }

  async confirmLease(key: LinkKey, lease: HeldLease, version: number, ttlMs: number, opts: { mark?: ConfirmMark } = {}): Promise<boolean> {
    checkArgs.confirmLease(key, lease, version, ttlMs, opts);
    const db = this.#conn.open();
    const now = db.clock.now();
    const row = db.links.get(linkKeyId(key));
    if (row === undefined || !confirmAllows(row, lease, version, now)) return false;
    db.links.set(linkKeyId(key), { ...row, ...confirmedLease(row, lease.owner, now + ttlMs, now, opts.mark) });
    this.#conn.wrote();
    return true;
  }

  async releaseLease(key: LinkKey, lease: HeldLease, opts: { keepSending?: boolean } = {}): Promise<void> {
    checkArgs.releaseLease(key, lease);
    const rows = this.#rows();
    const row = rows.get(linkKeyId(key));
    if (row === undefined || !releaseAllows(row, lease)) return;
    rows.set(linkKeyId(key), { ...row, ...releasedLease(opts.keepSending === true) });
    this.#conn.wrote();
  }

  /** Opens the row, then deletes it: a row that fails to open is not deleted. */
  async delete(key: LinkKey): Promise<LinkRecord | undefined> {
    checkArgs.delete(key);
    const rows = this.#rows();
    const row = rows.get(linkKeyId(key));
    let record: LinkRecord | undefined;
    if (row !== undefined) {
      record = this.#codec.decodeRecord(row);
      rows.delete(linkKeyId(key));
      this.#conn.wrote();
    }
    this.#cache.delete(linkKeyId(key));
    return record;
  }

  /** In (provider_id, user_id) byte order, as the SQL stores page; nothing is opened. */
  async list(query: ListQuery): Promise<LinkMeta[]> {
    checkArgs.list(query);
    const { providerId, userId, after } = query;
    const matching: LinkRow[] = [];
    for (const row of this.#rows().values()) {
      if (providerId !== undefined && row.provider_id !== providerId) continue;
      if (userId !== undefined && row.user_id !== userId) continue;
      if (after !== undefined && (compareBytes(row.provider_id, after.providerId) || compareBytes(row.user_id, after.userId)) <= 0) continue;
      matching.push(row);
    }
    return matching
      .sort(compareKeys)
      .slice(0, query.limit)
      .map((row) => decodeMeta({ ...row, has_refresh_token: row.refresh_token === null ? 0 : 1 }));
  }

  async count(): Promise<number> {
    return this.#rows().size;
  }

  async countNeedingRelink(): Promise<number> {
    return [...this.#rows().values()].filter((r) => r.failed_at !== null).length;
  }

  async close(): Promise<void> {
    this.#conn.close();
  }

  #rows(): Map<string, LinkRow> {
    return this.#conn.open().links;
  }

  #remember(key: LinkKey, record: LinkRecord): LinkRecord {
    this.#cache.set(linkKeyId(key), record, true);
    return record;
  }
}
