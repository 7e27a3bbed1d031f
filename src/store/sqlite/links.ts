import type { Sealer } from "../../crypto/index.js";
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
import type { SqliteConnection } from "./connection.js";
import { LinkStatements, type ListParams, type PkParams } from "./link-statements.js";
import { RecordCache } from "../record-cache.js";
import { HOST_CLOCK, grantedClaim, leaseStateOf, refusedClaim, type Clock, type ConfirmMark } from "../lease-core.js";
import { casAllows, checkArgs, committedColumns, committedRecord, failureAllows, putRecord, putRefreshToken } from "../link-core.js";
import { RowCodec, decodeMeta, type LinkRow, type SealedCommit, type SealedTokens } from "../row-codec.js";

const pk = (key: LinkKey): PkParams => ({ provider_id: key.providerId, user_id: key.userId });

/**
 * LinkStore over the `links` table. Every multi-statement write is one
 * BEGIN IMMEDIATE transaction with no await inside, its body a private
 * method right below the public one that runs it; commits are durable
 * (synchronous=FULL) before a promise resolves. Secrets are sealed per column
 * before a transaction starts, so the write lock is held only for SQL.
 *
 * Decoded records are cached (record-cache.ts). Records carry no lease
 * fields, so lease writes leave the cache alone; writes of link data update
 * it in the same turn as their commit (SqliteConnection.write's `then`).
 *
 * Lease times are the store's clock (`clock`, the host's by default: one
 * host shares the file, so its clock is the database's), read inside each
 * attempt of a lease operation, never a time the caller passes in.
 */
export class SqliteLinks implements LinkStore {
  readonly #conn: SqliteConnection;
  readonly #sealer: Sealer;
  readonly #codec: RowCodec;
  readonly #s: LinkStatements;
  readonly #cache: RecordCache;
  readonly #clock: Clock;
  /** The store core compares digests through the sealer (a keyed digest names its key). */
  readonly #digestMatches = (digest: string, plaintext: string): boolean => this.#sealer.digestMatches(digest, plaintext);

  constructor(conn: SqliteConnection, sealer: Sealer, cacheEntries: number, clock: Clock = HOST_CLOCK) {
    this.#conn = conn;
    this.#clock = clock;
    this.#sealer = sealer;
    this.#codec = new RowCodec(sealer);
    this.#s = new LinkStatements(conn.db);
    const dataVersion = conn.db.prepare<[], number>("PRAGMA data_version").pluck();
    this.#cache = new RecordCache(cacheEntries, () => dataVersion.get() as number);
  }

  /**
   * The hot path: a cache hit costs one `PRAGMA data_version` step and a map
   * lookup. Records are shared with the cache: callers must not modify them.
   */
  async get(key: LinkKey): Promise<LinkRecord | undefined> {
    checkArgs.get(key);
    try {
      return this.#read(key);
    } catch (err) {
      return this.#conn.retry("links.get", () => this.#read(key), err);
    }
  }

  #read(key: LinkKey): LinkRecord | undefined {
    const ck = linkKeyId(key);
    const cached = this.#cache.get(ck);
    if (cached !== undefined) return cached;
    const row = this.#s.select.get(pk(key));
    if (row === undefined) return undefined;
    const record = this.#codec.decodeRecord(row);
    this.#cache.set(ck, record);
    return record;
  }

  /** An empty or null refresh token is stored as NULL; so is an empty access token or extra. */
  async put(key: LinkKey, tokens: StoredTokens, now: number): Promise<LinkRecord> {
    checkArgs.put(key, tokens, now);
    const sealed = this.#codec.sealTokens(key, { ...tokens, refreshToken: putRefreshToken(tokens) ?? undefined });
    return this.#conn.write(
      "links.put",
      () => this.#upsert(key, sealed, now),
      (row) => this.#remember(key, putRecord(key, tokens, { version: row.version, createdAt: row.created_at }, now)),
    );
  }

  #upsert(key: LinkKey, t: SealedTokens, now: number): Pick<LinkRow, "version" | "created_at"> {
    const refresh = t.refresh ?? { token: null, digest: null };
    const row = this.#s.upsert.get({
      ...pk(key),
      access_token: t.access_token,
      token_type: t.token_type,
      refresh_token: refresh.token,
      refresh_token_digest: refresh.digest,
      expires_at: t.expires_at,
      extra: t.extra ?? null,
      account: t.account ?? null,
      granted_scopes: t.granted_scopes ?? null,
      now,
    });
    if (row === undefined) throw new Error("upsert returned no row");
    return row;
  }

  /**
   * Bulk import (migrations, seeding): many puts in one transaction, so one
   * fsync instead of one per link. All or nothing.
   */
  async putMany(items: Array<{ key: LinkKey; tokens: StoredTokens }>, now: number): Promise<number> {
    checkArgs.putMany(now);
    const sealed = items.map(({ key, tokens }) => {
      checkArgs.putManyItem(key, tokens);
      const refreshToken = putRefreshToken(tokens) ?? undefined;
      return { key, sealed: this.#codec.sealTokens(key, { ...tokens, refreshToken }) };
    });
    return this.#conn.write(
      "links.putMany",
      () => {
        for (const item of sealed) this.#upsert(item.key, item.sealed, now);
        return sealed.length;
      },
      (n) => {
        for (const item of sealed) this.#cache.delete(linkKeyId(item.key));
        return n;
      },
    );
  }

  /**
   * Compare-and-swap on (version, refresh-token digest), or a heal of a row
   * failed for exactly the sent token (failed_digest): link-core.ts
   * casAllows, on the row read inside the transaction. An undefined or empty
   * `tokens.refreshToken` keeps the stored one. When `tokens.extra` is
   * undefined the stored extra is opened after the commit for the returned
   * record; if that fails (DecryptError) the commit has still happened.
   */
  async commitRefresh(key: LinkKey, expect: CasExpectation, tokens: NewTokens, now: number): Promise<LinkRecord | undefined> {
    checkArgs.commitRefresh(key, expect, tokens, now);
    const sealed = this.#codec.sealCommit(key, tokens, expect.refreshToken);
    return this.#conn.write(
      "links.commitRefresh",
      () => this.#commit(key, expect, sealed, now),
      (before) => {
        if (before === undefined) return undefined;
        this.#cache.delete(linkKeyId(key));
        const keptExtra = (): Record<string, string> => this.#codec.openExtra(key, before.extra);
        return this.#remember(key, committedRecord(key, { ...before, createdAt: before.created_at }, expect, tokens, sealed, keptExtra, now));
      },
    );
  }

  /** The row as it was before the commit, or undefined when the expectation failed. */
  #commit(key: LinkKey, expect: CasExpectation, t: SealedCommit, now: number): LinkRow | undefined {
    const row = this.#s.select.get(pk(key));
    if (!casAllows(row, expect, this.#digestMatches)) return undefined;
    const info = this.#s.commit.run({
      ...pk(key),
      ...committedColumns(row, t),
      access_token: t.access_token,
      token_type: t.token_type,
      expires_at: t.expires_at,
      now,
      read_version: row.version,
    });
    if (info.changes !== 1) throw new Error(`commitRefresh updated ${info.changes} rows inside its transaction`);
    return row;
  }

  async recordFailure(key: LinkKey, refreshToken: string, reason: string, now: number): Promise<boolean> {
    checkArgs.recordFailure(key, refreshToken, reason, now);
    const sealedReason = this.#codec.seal(key, "failure_reason", reason);
    return this.#conn.write(
      "links.recordFailure",
      () => this.#fail(key, refreshToken, sealedReason, now),
      (recorded) => {
        if (recorded) this.#cache.delete(linkKeyId(key));
        return recorded;
      },
    );
  }

  #fail(key: LinkKey, refreshToken: string, reason: Buffer | null, now: number): boolean {
    const digest = failureAllows(this.#s.select.get(pk(key)), refreshToken, this.#digestMatches);
    if (digest === undefined) return false;
    return this.#s.recordFailure.run({ ...pk(key), expect_digest: digest, failure_reason: reason, now }).changes === 1;
  }

  async readLease(key: LinkKey): Promise<LeaseState | null | undefined> {
    checkArgs.readLease(key);
    return this.#conn.run("links.readLease", () => {
      const row = this.#s.leaseOf.get(pk(key));
      return row === undefined ? undefined : leaseStateOf(row, this.#clock.now());
    });
  }

  /**
   * See LinkStore.claimLease; the statements' conditions are lease-core.ts
   * claimAllows. The claimed row is opened inside the claim's transaction,
   * so a row that fails to open rolls the claim back.
   */
  async claimLease(key: LinkKey, owner: string, ttlMs: number, expect: HeldLease | null, opts: { onlyIfExpired?: boolean } = {}): Promise<LeaseClaim> {
    checkArgs.claimLease(key, owner, ttlMs, expect, opts);
    return this.#conn.write("links.claimLease", () => this.#claim(key, owner, ttlMs, expect, opts.onlyIfExpired === true));
  }

  #claim(key: LinkKey, owner: string, ttlMs: number, expect: HeldLease | null, onlyIfExpired: boolean): LeaseClaim {
    const now = this.#clock.now();
    const params = { ...pk(key), owner, until: now + ttlMs };
    let row: LinkRow | undefined;
    if (expect === null) row = this.#s.claim.get(params);
    else {
      const takeover = { ...params, expect_owner: expect.owner, expect_generation: expect.generation };
      row = onlyIfExpired ? this.#s.takeoverExpired.get({ ...takeover, now }) : this.#s.takeover.get(takeover);
    }
    if (row === undefined) return refusedClaim(this.#s.leaseOf.get(pk(key)), now);
    return grantedClaim(row, owner, this.#codec.decodeRecord(row), now);
  }

  /** One conditional UPDATE whose condition is lease-core.ts confirmAllows, and whose SET is confirmedLease. */
  async confirmLease(key: LinkKey, lease: HeldLease, version: number, ttlMs: number, opts: { mark?: ConfirmMark } = {}): Promise<boolean> {
    checkArgs.confirmLease(key, lease, version, ttlMs, opts);
    const stmt = opts.mark === "sending" ? this.#s.confirmSending : opts.mark === "clear" ? this.#s.confirmClear : this.#s.confirm;
    return this.#conn.run("links.confirmLease", () => {
      const now = this.#clock.now();
      return stmt.run({ ...pk(key), owner: lease.owner, generation: lease.generation, version, until: now + ttlMs, now }).changes === 1;
    });
  }

  /** One conditional UPDATE: lease-core.ts releaseAllows and releasedLease. */
  async releaseLease(key: LinkKey, lease: HeldLease, opts: { keepSending?: boolean } = {}): Promise<void> {
    checkArgs.releaseLease(key, lease);
    const params = { ...pk(key), owner: lease.owner, generation: lease.generation };
    const stmt = opts.keepSending === true ? this.#s.releaseKeepSending : this.#s.release;
    await this.#conn.run("links.releaseLease", () => stmt.run(params));
  }

  /** Opens the row, then deletes it, in one transaction: a row that fails to open is not deleted. */
  async delete(key: LinkKey): Promise<LinkRecord | undefined> {
    checkArgs.delete(key);
    return this.#conn.write(
      "links.delete",
      () => this.#remove(key),
      (record) => {
        this.#cache.delete(linkKeyId(key));
        return record;
      },
    );
  }

  #remove(key: LinkKey): LinkRecord | undefined {
    const row = this.#s.select.get(pk(key));
    if (row === undefined) return undefined;
    const record = this.#codec.decodeRecord(row);
    this.#s.remove.run(pk(key));
    return record;
  }

  async list(query: ListQuery): Promise<LinkMeta[]> {
    checkArgs.list(query);
    const params: ListParams = { limit: query.limit };
    if (query.providerId !== undefined) params.provider_id = query.providerId;
    if (query.userId !== undefined) params.user_id = query.userId;
    if (query.after !== undefined) {
      params.after_provider_id = query.after.providerId;
      params.after_user_id = query.after.userId;
    }
    return this.#conn.run("links.list", () => this.#s.list(params).all(params).map(decodeMeta));
  }

  async count(): Promise<number> {
    return this.#conn.run("links.count", () => this.#s.count.get() ?? 0);
  }

  async countNeedingRelink(): Promise<number> {
    return this.#conn.run("links.count", () => this.#s.countFailed.get() ?? 0);
  }

  close(): Promise<void> {
    return this.#conn.close();
  }

  #remember(key: LinkKey, record: LinkRecord): LinkRecord {
    this.#cache.set(linkKeyId(key), record, true);
    return record;
  }
}
