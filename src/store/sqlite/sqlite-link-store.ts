import Database from "better-sqlite3";
import type { Sealer } from "../../crypto/sealer.js";
import type {
  CasExpectation,
  LeaseClaim,
  LinkKey,
  LinkMeta,
  LinkRecord,
  LinkStore,
  ListQuery,
  NewTokens,
} from "../link-store.js";
import { UNREADABLE_KEY_ID, type KeySentinel, type KeyringStore } from "./keyring-store.js";
import { migrate } from "./migrations.js";
import { RecordCache } from "./record-cache.js";
import { createResealer, type ResealBatch } from "./reseal.js";
import { FlowTables } from "./flow-tables.js";
import { RowCodec, SEALED_COLUMNS, decodeMeta, type LinkRow } from "./row-codec.js";
import { Statements, type ListParams, type PkParams } from "./statements.js";
import { assertKey, assertListQuery, assertMillis, assertTokens } from "./validate.js";

export const DEFAULT_BUSY_TIMEOUT_MS = 5000;

export interface SqliteLinkStoreOptions {
  /** The database file (created if missing). */
  path: string;
  sealer: Sealer;
  /** How long a write waits for another connection's lock (default 5000). */
  busyTimeoutMs?: number | undefined;
  /** Decoded records kept in memory for cache hits (default 10,000; 0 disables). */
  cacheEntries?: number | undefined;
}

type PutTokens = NewTokens & { refreshToken: string | null; extra: Record<string, string> };

interface SealedTokens {
  access_token: Buffer | null;
  token_type: string;
  expires_at: number | null;
  /** undefined: keep the stored refresh token (and digest). */
  refresh?: { token: Buffer | null; digest: string | null; plain: string | null };
  /** undefined: keep the stored extra. */
  extra?: Buffer | null;
}

const pk = (key: LinkKey): PkParams => ({ provider_id: key.providerId, user_id: key.userId });
const ck = (key: LinkKey): string => `${key.providerId}\u0000${key.userId}`;

function toBuffer(bytes: Uint8Array): Buffer {
  return Buffer.isBuffer(bytes) ? bytes : Buffer.from(bytes.buffer, bytes.byteOffset, bytes.byteLength);
}

/**
 * The embedded LinkStore: one SQLite file in WAL mode that several processes
 * may share. Every write is a BEGIN IMMEDIATE transaction with no await
 * inside; commits are durable (synchronous=FULL) before a promise resolves.
 * Secrets are sealed per column through the Sealer; only sealed bytes (or
 * NULL for empty values) reach the file.
 */
export class SqliteLinkStore implements LinkStore, KeyringStore {
  private readonly codec: RowCodec;
  private readonly s: Statements;

  private readonly putTxn: (key: LinkKey, t: SealedTokens, now: number) => Pick<LinkRow, "version" | "generation" | "created_at">;
  private readonly commitTxn: (key: LinkKey, expect: CasExpectation, t: SealedTokens, now: number) => LinkRow | undefined;
  private readonly failTxn: (key: LinkKey, refreshToken: string, reason: Buffer | null, now: number) => boolean;
  private readonly claimTxn: (key: LinkKey, owner: string, until: number, now: number) => LinkRow | LeaseClaim;
  private readonly deleteTxn: (key: LinkKey) => LinkRecord | undefined;
  private readonly writeTxn: <R>(fn: () => R) => R;
  private resealer: ((after: LinkKey | undefined, limit: number) => ResealBatch) | undefined;
  /** Pending link flows, in the same database file. */
  readonly flows: FlowTables;

  static open(opts: SqliteLinkStoreOptions): SqliteLinkStore {
    const busyTimeoutMs = opts.busyTimeoutMs ?? DEFAULT_BUSY_TIMEOUT_MS;
    assertMillis("busyTimeoutMs", busyTimeoutMs);
    const db = new Database(opts.path, { timeout: busyTimeoutMs });
    try {
      configure(db, busyTimeoutMs);
      migrate(db);
      return new SqliteLinkStore(db, opts.sealer, opts.cacheEntries ?? 10_000);
    } catch (err) {
      db.close();
      throw err;
    }
  }

  private readonly cache: RecordCache;

  private constructor(
    private readonly db: Database.Database,
    private readonly sealer: Sealer,
    cacheEntries: number,
  ) {
    this.cache = new RecordCache(db, cacheEntries);
    this.codec = new RowCodec(sealer);
    this.flows = new FlowTables(db, sealer);
    this.s = new Statements(db);
    const s = this.s;

    this.putTxn = immediate(db, (key: LinkKey, t: SealedTokens, now: number) => {
      const refresh = t.refresh ?? { token: null, digest: null };
      const row = s.upsert.get({
        ...pk(key),
        access_token: t.access_token,
        token_type: t.token_type,
        refresh_token: refresh.token,
        refresh_token_digest: refresh.digest,
        expires_at: t.expires_at,
        extra: t.extra ?? null,
        now,
      });
      if (row === undefined) throw new Error("upsert returned no row");
      return row;
    });

    this.commitTxn = immediate(db, (key: LinkKey, expect: CasExpectation, t: SealedTokens, now: number) => {
      const row = s.select.get(pk(key));
      if (row === undefined || row.version !== expect.version) return undefined;
      if (row.refresh_token_digest === null || !sealer.digestMatches(row.refresh_token_digest, expect.refreshToken)) return undefined;
      const info = s.commit.run({
        ...pk(key),
        access_token: t.access_token,
        token_type: t.token_type,
        refresh_token: t.refresh === undefined ? row.refresh_token : t.refresh.token,
        refresh_token_digest: t.refresh === undefined ? row.refresh_token_digest : t.refresh.digest,
        expires_at: t.expires_at,
        extra: t.extra === undefined ? row.extra : t.extra,
        now,
        expect_version: expect.version,
      });
      if (info.changes !== 1) throw new Error(`commitRefresh updated ${info.changes} rows inside its transaction`);
      return row;
    });

    this.failTxn = immediate(db, (key: LinkKey, refreshToken: string, reason: Buffer | null, now: number) => {
      const row = s.select.get(pk(key));
      const digest = row?.refresh_token_digest ?? null;
      if (digest === null || !sealer.digestMatches(digest, refreshToken)) return false;
      return s.recordFailure.run({ ...pk(key), expect_digest: digest, failure_reason: reason, now }).changes === 1;
    });

    this.claimTxn = immediate(db, (key: LinkKey, owner: string, until: number, now: number): LinkRow | LeaseClaim => {
      const claimed = s.claim.get({ ...pk(key), owner, until, now });
      if (claimed !== undefined) return claimed;
      const held = s.leaseOf.get(pk(key));
      if (held === undefined) return { claimed: false, missing: true };
      if (held.lease_owner === null || held.lease_until === null) throw new Error("lease is free but could not be claimed");
      return { claimed: false, owner: held.lease_owner, until: held.lease_until };
    });

    const single = db.transaction((fn: () => unknown) => fn());
    this.writeTxn = <R>(fn: () => R): R => single.immediate(fn) as R;

    this.deleteTxn = immediate(db, (key: LinkKey) => {
      const row = s.select.get(pk(key));
      if (row === undefined) return undefined;
      // Open before deleting: a row that cannot be opened is left in place.
      const record = this.codec.decodeRecord(row);
      s.remove.run(pk(key));
      return record;
    });
  }

  /** Records are shared with the cache: callers must not modify them. */
  async get(key: LinkKey): Promise<LinkRecord | undefined> {
    assertKey(key);
    const cached = this.cache.get(ck(key));
    if (cached !== undefined) return cached;
    const row = this.s.select.get(pk(key));
    if (row === undefined) return undefined;
    const record = this.codec.decodeRecord(row);
    this.cache.set(ck(key), record);
    return record;
  }

  /** An empty or null refresh token is stored as NULL; so is an empty access token or extra. */
  async put(key: LinkKey, tokens: PutTokens, now: number): Promise<LinkRecord> {
    assertKey(key);
    assertTokens(tokens);
    assertMillis("now", now);
    const refreshToken = tokens.refreshToken === null || tokens.refreshToken === "" ? null : tokens.refreshToken;
    const extra = tokens.extra ?? {};
    const sealed = this.sealTokens(key, { ...tokens, refreshToken: refreshToken ?? undefined, extra });
    this.cache.delete(ck(key));
    const row = this.putTxn(key, sealed, now);
    return this.remember(key, {
      ...key,
      version: row.version,
      accessToken: tokens.accessToken,
      tokenType: tokens.tokenType,
      refreshToken,
      expiresAt: tokens.expiresAt,
      extra: { ...extra },
      refreshFailure: null,
      lease: null,
      generation: row.generation,
      createdAt: row.created_at,
      updatedAt: now,
      lastRefreshedAt: null,
    });
  }

  /**
   * Bulk import (migrations, seeding): many puts in one transaction, so one
   * fsync instead of one per link. All or nothing.
   */
  async putMany(items: Array<{ key: LinkKey; tokens: PutTokens }>, now: number): Promise<number> {
    assertMillis("now", now);
    const sealed = items.map(({ key, tokens }) => {
      assertKey(key);
      assertTokens(tokens);
      const refreshToken = tokens.refreshToken === null || tokens.refreshToken === "" ? undefined : tokens.refreshToken;
      return { key, sealed: this.sealTokens(key, { ...tokens, refreshToken, extra: tokens.extra ?? {} }) };
    });
    for (const item of sealed) this.cache.delete(ck(item.key));
    this.writeTxn(() => {
      for (const item of sealed) this.putTxn(item.key, item.sealed, now);
    });
    return sealed.length;
  }

  /**
   * Compare-and-swap on (version, refresh-token digest). An undefined or
   * empty `tokens.refreshToken` keeps the stored one. The new values are
   * sealed before the transaction starts, so the write lock is held only for
   * one read and one update. When `tokens.extra` is undefined the stored
   * extra is opened after the commit for the returned record; if that fails
   * (DecryptError) the commit has still happened.
   */
  async commitRefresh(key: LinkKey, expect: CasExpectation, tokens: NewTokens, now: number): Promise<LinkRecord | undefined> {
    assertKey(key);
    assertTokens(tokens);
    assertMillis("now", now);
    assertMillis("expect.version", expect.version);
    if (typeof expect.refreshToken !== "string") throw new TypeError("expect.refreshToken must be a string");
    const sealed = this.sealTokens(key, tokens);
    this.cache.delete(ck(key));
    const before = this.commitTxn(key, expect, sealed, now);
    if (before === undefined) return undefined;
    return this.remember(key, {
      ...key,
      version: before.version + 1,
      accessToken: tokens.accessToken,
      tokenType: tokens.tokenType,
      refreshToken: sealed.refresh === undefined ? expect.refreshToken : sealed.refresh.plain,
      expiresAt: tokens.expiresAt,
      extra: tokens.extra === undefined ? this.codec.openExtra(key, before.extra) : { ...tokens.extra },
      refreshFailure: null,
      lease: null,
      generation: before.generation,
      createdAt: before.created_at,
      updatedAt: now,
      lastRefreshedAt: now,
    });
  }

  async recordFailure(key: LinkKey, refreshToken: string, reason: string, now: number): Promise<boolean> {
    assertKey(key);
    assertMillis("now", now);
    if (typeof refreshToken !== "string") throw new TypeError("refreshToken must be a string");
    if (typeof reason !== "string") throw new TypeError("reason must be a string");
    const sealedReason = this.codec.seal(key, "failure_reason", reason);
    this.cache.delete(ck(key));
    return this.failTxn(key, refreshToken, sealedReason, now);
  }

  /**
   * Claims the lease when it is free, expired (lease_until <= now) or already
   * held by `owner`; each claim increments the generation. Version and
   * updated_at are untouched. If the claimed row cannot be opened, the lease
   * is released again and the DecryptError rejects.
   */
  async claimLease(key: LinkKey, owner: string, ttlMs: number, now: number): Promise<LeaseClaim> {
    assertKey(key);
    if (typeof owner !== "string" || owner === "") throw new TypeError("owner must be a non-empty string");
    assertMillis("ttlMs", ttlMs, { min: 1 });
    assertMillis("now", now);
    this.cache.delete(ck(key));
    const result = this.claimTxn(key, owner, now + ttlMs, now);
    if ("claimed" in result) return result;
    try {
      return { claimed: true, generation: result.generation, record: this.codec.decodeRecord(result) };
    } catch (err) {
      this.writeTxn(() => this.s.release.run({ ...pk(key), owner, generation: result.generation }));
      throw err;
    }
  }

  async releaseLease(key: LinkKey, owner: string, generation: number): Promise<void> {
    assertKey(key);
    this.cache.delete(ck(key));
    this.writeTxn(() => this.s.release.run({ ...pk(key), owner, generation }));
  }

  /** Opens the row, then deletes it, in one transaction; a row that fails to open is not deleted (see purge). */
  async delete(key: LinkKey): Promise<LinkRecord | undefined> {
    assertKey(key);
    this.cache.delete(ck(key));
    return this.deleteTxn(key);
  }

  /** Deletes a link without opening it (for rows that no longer decrypt). Returns whether a row was deleted. */
  async purge(key: LinkKey): Promise<boolean> {
    assertKey(key);
    this.cache.delete(ck(key));
    return this.writeTxn(() => this.s.remove.run(pk(key)).changes === 1);
  }

  async list(query: ListQuery): Promise<LinkMeta[]> {
    assertListQuery(query);
    const params: ListParams = { limit: query.limit };
    if (query.providerId !== undefined) params.provider_id = query.providerId;
    if (query.userId !== undefined) params.user_id = query.userId;
    if (query.after !== undefined) {
      params.after_provider_id = query.after.providerId;
      params.after_user_id = query.after.userId;
    }
    return this.s.list(params).all(params).map(decodeMeta);
  }

  async count(): Promise<number> {
    return this.s.count.get() ?? 0;
  }

  /** Checkpoints the WAL into the main file (TRUNCATE), then closes. Idempotent. */
  async close(): Promise<void> {
    if (!this.db.open) return;
    try {
      this.db.pragma("wal_checkpoint(TRUNCATE)");
    } finally {
      this.db.close();
    }
  }

  // KeyringStore

  listSentinels(): KeySentinel[] {
    return this.s.sentinels.all().map((r) => ({ keyId: r.key_id, envelope: r.envelope, createdAt: r.created_at }));
  }

  putSentinel(keyId: string, envelope: Uint8Array, now: number): boolean {
    if (typeof keyId !== "string" || keyId === "") throw new TypeError("keyId must be a non-empty string");
    assertMillis("now", now);
    const row = { key_id: keyId, envelope: toBuffer(envelope), created_at: now };
    return this.writeTxn(() => this.s.putSentinel.run(row).changes === 1);
  }

  /**
   * Re-seals one batch of rows under the active key (see reseal.ts). A row
   * that fails to open stops the batch with DecryptError: rotation never
   * skips a value silently.
   */
  async reseal(after: LinkKey | undefined, limit: number): Promise<ResealBatch> {
    this.resealer ??= createResealer(this.db, this.sealer);
    if (after === undefined) this.flows.resealAll();
    return this.resealer(after, limit);
  }

  countByKeyId(): Map<string, number> {
    const counts = new Map<string, number>();
    const count = (envelope: Buffer): void => {
      let keyId: string;
      try {
        keyId = this.sealer.keyIdOf(envelope);
      } catch {
        keyId = UNREADABLE_KEY_ID;
      }
      counts.set(keyId, (counts.get(keyId) ?? 0) + 1);
    };
    for (const envelope of this.flows.sealedValues()) count(envelope);
    for (const row of this.s.sealedValues.iterate()) {
      for (const column of SEALED_COLUMNS) {
        const envelope = row[column];
        if (envelope !== null) count(envelope);
      }
    }
    return counts;
  }

  private remember(key: LinkKey, record: LinkRecord): LinkRecord {
    this.cache.set(ck(key), record, true);
    return record;
  }

  private sealTokens(key: LinkKey, tokens: NewTokens): SealedTokens {
    const sealed: SealedTokens = {
      access_token: this.codec.seal(key, "access_token", tokens.accessToken),
      token_type: tokens.tokenType,
      expires_at: tokens.expiresAt,
    };
    if (tokens.refreshToken !== undefined && tokens.refreshToken !== "") {
      sealed.refresh = {
        token: this.codec.seal(key, "refresh_token", tokens.refreshToken),
        digest: this.sealer.digest(tokens.refreshToken),
        plain: tokens.refreshToken,
      };
    }
    if (tokens.extra !== undefined) sealed.extra = this.codec.sealExtra(key, tokens.extra);
    return sealed;
  }
}

/** Wraps fn as a BEGIN IMMEDIATE transaction. fn must be synchronous. */
function immediate<A extends unknown[], R>(db: Database.Database, fn: (...args: A) => R): (...args: A) => R {
  const txn = db.transaction(fn);
  return (...args: A) => txn.immediate(...args);
}

function configure(db: Database.Database, busyTimeoutMs: number): void {
  db.pragma(`busy_timeout = ${busyTimeoutMs}`);
  const mode = db.pragma("journal_mode = WAL", { simple: true });
  if (mode !== "wal" && mode !== "memory") throw new Error(`could not enable WAL journal mode (got ${String(mode)})`);
  db.pragma("synchronous = FULL");
  db.pragma("secure_delete = ON");
  db.pragma("foreign_keys = ON");
}
