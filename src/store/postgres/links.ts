import { randomBytes } from "node:crypto";
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
import { RecordCache } from "../record-cache.js";
import { grantedClaim, leaseStateOf, refusedClaim, type ConfirmMark, type LeaseRow } from "../lease-core.js";
import { casAllows, checkArgs, committedColumns, committedRecord, failureAllows, putRecord, putRefreshToken } from "../link-core.js";
import { RowCodec, decodeMeta, type LinkMetaRow, type LinkRow, type SealedTokens } from "../row-codec.js";
import type { PgConnection, Queryer } from "./connection.js";
import * as sql from "./link-sql.js";
import { LINKS_CHANNEL } from "./listener.js";

const SYNC_PREFIX = "sync:";
/** How long a sync waits for its own echo. */
const SYNC_TIMEOUT_MS = 2000;

/** Columns holding a time, converted to this host's clock alike (store_now too, so differences between them are exact). */
const TIME_COLUMNS = ["expires_at", "failed_at", "lease_until", "created_at", "updated_at", "last_refreshed_at", "refresh_sent_at", "store_now"] as const;

/** A row as a lease statement returns it, with the database's clock when the statement ran. */
type Stamped<R> = R & { store_now: number };

/**
 * LinkStore on PostgreSQL (docs/design.md §4.5): the same rows, sealing,
 * digests and lease rules as the SQLite store, for a fleet of hosts on one
 * database. Every write is one statement or one short transaction on one
 * pooled connection — a row lock (SELECT … FOR UPDATE) only ever spans SQL,
 * never a provider call. Lease claims are conditional UPDATE … RETURNING
 * fenced by generation; confirm and release are conditional on owner and
 * generation. Times are kept in the database's clock (connection.ts); every
 * lease time is that clock read in the statement (clock_timestamp()), never
 * a host's, and comes back through the connection's offset like every
 * other time.
 *
 * The record cache is kept correct across hosts by NOTIFY: a write of link
 * data notifies the key's digest, and every other host drops that key; while
 * this host's listener is down the cache is off (`epoch` undefined). The
 * payload is `<keyed digest of the key> <origin>`, never a user id or token.
 */
export class PgLinks implements LinkStore {
  readonly #conn: PgConnection;
  readonly #sealer: Sealer;
  readonly #codec: RowCodec;
  readonly #cache: RecordCache;
  /** The store core compares digests through the sealer (a keyed digest names its key). */
  readonly #digestMatches = (digest: string, plaintext: string): boolean => this.#sealer.digestMatches(digest, plaintext);
  /** Who this store is, so it can tell its own notifications from other hosts'. */
  readonly #origin = randomBytes(6).toString("hex");
  readonly #waiters = new Map<string, Set<() => void>>();
  readonly #epoch: () => number | undefined;
  readonly #syncs = new Map<string, () => void>();
  #syncCount = 0;

  readonly #close: () => Promise<void>;

  /** `close` closes the whole store this belongs to; `epoch` is the listener's (listener.ts). */
  constructor(conn: PgConnection, sealer: Sealer, cacheEntries: number, epoch: () => number | undefined, close: () => Promise<void>) {
    this.#conn = conn;
    this.#close = close;
    this.#sealer = sealer;
    this.#codec = new RowCodec(sealer);
    this.#epoch = epoch;
    this.#cache = new RecordCache(cacheEntries, epoch);
  }

  /** A notification from the links channel (listener.ts): another host changed this key. */
  notified(payload: string): void {
    const [digest, origin] = payload.split(" ", 2);
    if (digest === undefined) return;
    if (digest.startsWith(SYNC_PREFIX)) {
      this.#syncs.get(digest)?.();
      return;
    }
    this.#wake(digest);
    if (origin === this.#origin) return;
    // A host whose active key differs (mid-rotation) names keys by another digest: drop everything.
    if (!digest.startsWith(`${this.#sealer.activeKeyId}:`)) this.#cache.clear();
    else this.#cache.delete(digest);
  }

  /**
   * Resolves when another host notifies a change to `key` (a commit, a
   * release of its lease), or after `ms`. NOTIFY is not durable: callers
   * still look again when it resolves by time.
   */
  changed(key: LinkKey, ms: number): Promise<void> {
    const digest = this.#digest(key);
    return new Promise((resolve) => {
      let set = this.#waiters.get(digest);
      if (set === undefined) this.#waiters.set(digest, (set = new Set()));
      const waiters = set;
      const done = (): void => {
        clearTimeout(timer);
        waiters.delete(done);
        if (waiters.size === 0 && this.#waiters.get(digest) === waiters) this.#waiters.delete(digest);
        resolve();
      };
      const timer = setTimeout(done, ms);
      waiters.add(done);
    });
  }

  /**
   * Resolves once every notification committed before the call has reached
   * this host (PostgreSQL delivers them in commit order): after it, no
   * cached record predates another host's commit that came before the call.
   * At once when the listener is down, since nothing is cached then.
   */
  async sync(): Promise<void> {
    if (this.#epoch() === undefined) return;
    const marker = `${SYNC_PREFIX}${this.#origin}:${++this.#syncCount}`;
    const heard = new Promise<void>((resolve) => {
      // Unheard: whatever was announced meanwhile may be lost, so forget everything.
      const timer = setTimeout(() => {
        this.#cache.clear();
        resolve();
      }, SYNC_TIMEOUT_MS);
      this.#syncs.set(marker, () => {
        clearTimeout(timer);
        resolve();
      });
    });
    try {
      await this.#conn.query("links.sync", sql.NOTIFY, [LINKS_CHANNEL, `${marker} ${this.#origin}`]);
      await heard;
    } finally {
      this.#syncs.delete(marker);
    }
  }

  async get(key: LinkKey): Promise<LinkRecord | undefined> {
    checkArgs.get(key);
    const ck = this.#digest(key);
    const cached = this.#cache.get(ck);
    if (cached !== undefined) return cached;
    const ticket = this.#cache.ticket();
    const [row] = await this.#conn.query<LinkRow>("links.get", sql.SELECT, [key.providerId, key.userId]);
    if (row === undefined) return undefined;
    const record = this.#codec.decodeRecord(this.#fromDb(row));
    this.#cache.set(ck, record, false, ticket);
    return record;
  }

  /** An empty or null refresh token is stored as NULL; so is an empty access token or extra. */
  async put(key: LinkKey, tokens: StoredTokens, now: number): Promise<LinkRecord> {
    checkArgs.put(key, tokens, now);
    const sealed = this.#codec.sealTokens(key, { ...tokens, refreshToken: putRefreshToken(tokens) ?? undefined });
    const [row] = await this.#conn.query<{ version: number; created_at: number }>("links.put", sql.UPSERT, this.#upsertParams(key, sealed, now));
    if (row === undefined) throw new Error("upsert returned no row");
    return this.#remember(key, putRecord(key, tokens, { version: row.version, createdAt: this.#conn.fromDb(row.created_at) }, now));
  }

  /** Bulk import (store migrate, seeding): all in one transaction, all or nothing. */
  async putMany(items: Array<{ key: LinkKey; tokens: StoredTokens }>, now: number): Promise<number> {
    checkArgs.putMany(now);
    const sealed = items.map(({ key, tokens }) => {
      checkArgs.putManyItem(key, tokens);
      const refreshToken = putRefreshToken(tokens) ?? undefined;
      return { key, sealed: this.#codec.sealTokens(key, { ...tokens, refreshToken }) };
    });
    await this.#conn.tx("links.putMany", async (q) => {
      for (const item of sealed) await q.query(sql.UPSERT, this.#upsertParams(item.key, item.sealed, now));
    });
    for (const item of sealed) this.#cache.delete(this.#digest(item.key));
    return sealed.length;
  }

  /**
   * Compare-and-swap on (version, refresh-token digest), or a heal of a row
   * failed for exactly the sent token (failed_digest): link-core.ts
   * casAllows, on the row read under its lock for the length of two
   * statements. An undefined or empty `tokens.refreshToken` keeps the stored one.
   */
  async commitRefresh(key: LinkKey, expect: CasExpectation, tokens: NewTokens, now: number): Promise<LinkRecord | undefined> {
    checkArgs.commitRefresh(key, expect, tokens, now);
    const sealed = this.#codec.sealCommit(key, tokens, expect.refreshToken);
    const before = await this.#conn.tx("links.commitRefresh", async (q) => {
      const [row] = await q.query<LinkRow>(sql.SELECT_FOR_UPDATE, [key.providerId, key.userId]);
      if (!casAllows(row, expect, this.#digestMatches)) return undefined;
      const kept = committedColumns(row, sealed);
      await q.query(sql.COMMIT, [
        key.providerId,
        key.userId,
        sealed.access_token,
        sealed.token_type,
        kept.refresh_token,
        kept.refresh_token_digest,
        this.#conn.toDb(sealed.expires_at),
        kept.extra,
        this.#conn.toDb(now),
        row.version,
        kept.account,
        kept.granted_scopes,
      ]);
      await this.#notify(q, key);
      return row;
    });
    if (before === undefined) return undefined;
    this.#cache.delete(this.#digest(key));
    const keptExtra = (): Record<string, string> => this.#codec.openExtra(key, before.extra);
    const createdAt = this.#conn.fromDb(before.created_at);
    return this.#remember(key, committedRecord(key, { ...before, createdAt }, expect, tokens, sealed, keptExtra, now));
  }

  async recordFailure(key: LinkKey, refreshToken: string, reason: string, now: number): Promise<boolean> {
    checkArgs.recordFailure(key, refreshToken, reason, now);
    const sealedReason = this.#codec.seal(key, "failure_reason", reason);
    const recorded = await this.#conn.tx("links.recordFailure", async (q) => {
      const [row] = await q.query<LinkRow>(sql.SELECT_FOR_UPDATE, [key.providerId, key.userId]);
      const digest = failureAllows(row, refreshToken, this.#digestMatches);
      if (digest === undefined) return false;
      const changed = await q.query(`${sql.RECORD_FAILURE} RETURNING 1`, [key.providerId, key.userId, digest, sealedReason, this.#conn.toDb(now)]);
      if (changed.length !== 1) return false;
      await this.#notify(q, key);
      return true;
    });
    if (recorded) this.#cache.delete(this.#digest(key));
    return recorded;
  }

  async readLease(key: LinkKey): Promise<LeaseState | null | undefined> {
    checkArgs.readLease(key);
    const [row] = await this.#conn.query<Stamped<LeaseRow>>("links.readLease", sql.LEASE_OF, [key.providerId, key.userId]);
    if (row === undefined) return undefined;
    const read = this.#fromDb(row);
    return leaseStateOf(read, read.store_now);
  }

  /**
   * See LinkStore.claimLease; the statements' conditions are lease-core.ts
   * claimAllows, judged by the database's clock. The claimed row is opened
   * inside the claim's transaction: one that fails to open rolls it back.
   */
  async claimLease(key: LinkKey, owner: string, ttlMs: number, expect: HeldLease | null, opts: { onlyIfExpired?: boolean } = {}): Promise<LeaseClaim> {
    checkArgs.claimLease(key, owner, ttlMs, expect, opts);
    const pk = [key.providerId, key.userId];
    const takeover = opts.onlyIfExpired === true ? sql.TAKEOVER_EXPIRED : sql.TAKEOVER;
    return this.#conn.tx("links.claimLease", async (q): Promise<LeaseClaim> => {
      const [claimed] =
        expect === null
          ? await q.query<Stamped<LinkRow>>(sql.CLAIM, [...pk, owner, ttlMs])
          : await q.query<Stamped<LinkRow>>(takeover, [...pk, owner, ttlMs, expect.owner, expect.generation]);
      if (claimed === undefined) {
        const [held] = await q.query<Stamped<LeaseRow>>(sql.LEASE_OF, pk);
        if (held === undefined) return refusedClaim(undefined, 0);
        const read = this.#fromDb(held);
        return refusedClaim(read, read.store_now);
      }
      const row = this.#fromDb(claimed);
      return grantedClaim(row, owner, this.#codec.decodeRecord(row), row.store_now);
    });
  }

  /** One conditional UPDATE whose condition is lease-core.ts confirmAllows, and whose SET is confirmedLease. */
  async confirmLease(key: LinkKey, lease: HeldLease, version: number, ttlMs: number, opts: { mark?: ConfirmMark } = {}): Promise<boolean> {
    checkArgs.confirmLease(key, lease, version, ttlMs, opts);
    const text = opts.mark === "sending" ? sql.CONFIRM_SENDING : opts.mark === "clear" ? sql.CONFIRM_CLEAR : sql.CONFIRM;
    const params = [key.providerId, key.userId, lease.owner, lease.generation, version, ttlMs];
    return (await this.#conn.query("links.confirmLease", text, params)).length === 1;
  }

  /** One conditional UPDATE: lease-core.ts releaseAllows and releasedLease. */
  async releaseLease(key: LinkKey, lease: HeldLease, opts: { keepSending?: boolean } = {}): Promise<void> {
    checkArgs.releaseLease(key, lease);
    const text = opts.keepSending === true ? sql.RELEASE_KEEP_SENDING : sql.RELEASE;
    await this.#conn.query("links.releaseLease", text, [key.providerId, key.userId, lease.owner, lease.generation, LINKS_CHANNEL, this.#payload(key)]);
  }

  /** Opens the row, then deletes it, in one transaction: a row that fails to open is not deleted. */
  async delete(key: LinkKey): Promise<LinkRecord | undefined> {
    checkArgs.delete(key);
    const record = await this.#conn.tx("links.delete", async (q) => {
      const [row] = await q.query<LinkRow>(sql.SELECT_FOR_UPDATE, [key.providerId, key.userId]);
      if (row === undefined) return undefined;
      const opened = this.#codec.decodeRecord(this.#fromDb(row));
      await q.query(sql.REMOVE, [key.providerId, key.userId]);
      await this.#notify(q, key);
      return opened;
    });
    this.#cache.delete(this.#digest(key));
    return record;
  }

  async list(query: ListQuery): Promise<LinkMeta[]> {
    checkArgs.list(query);
    const params: unknown[] = [];
    if (query.providerId !== undefined) params.push(query.providerId);
    if (query.userId !== undefined) params.push(query.userId);
    if (query.after !== undefined) params.push(query.after.providerId, query.after.userId);
    params.push(query.limit);
    const text = sql.listSql({ provider: query.providerId !== undefined, user: query.userId !== undefined, after: query.after !== undefined });
    const rows = await this.#conn.query<LinkMetaRow>("links.list", text, params);
    return rows.map((row) => decodeMeta(this.#fromDb(row)));
  }

  async count(): Promise<number> {
    const [row] = await this.#conn.query<{ n: number }>("links.count", sql.COUNT);
    return row?.n ?? 0;
  }

  async countNeedingRelink(): Promise<number> {
    const [row] = await this.#conn.query<{ n: number }>("links.count", sql.COUNT_FAILED);
    return row?.n ?? 0;
  }

  close(): Promise<void> {
    return this.#close();
  }

  /** The cache's key and the notification's: a keyed digest, so the channel never carries a user id. */
  #digest(key: LinkKey): string {
    return this.#sealer.digest(`link\u0000${key.providerId}\u0000${key.userId}`);
  }

  #payload(key: LinkKey): string {
    return `${this.#digest(key)} ${this.#origin}`;
  }

  async #notify(q: Queryer, key: LinkKey): Promise<void> {
    await q.query(sql.NOTIFY, [LINKS_CHANNEL, this.#payload(key)]);
  }

  #wake(digest: string): void {
    const waiters = this.#waiters.get(digest);
    if (waiters === undefined) return;
    for (const wake of [...waiters]) wake();
  }

  /** The row with its times in this host's clock. */
  #fromDb<R extends Partial<Record<(typeof TIME_COLUMNS)[number], number | null>>>(row: R): R {
    const out = { ...row };
    for (const column of TIME_COLUMNS) {
      const v = out[column];
      if (typeof v === "number") (out as Record<string, number>)[column] = this.#conn.fromDb(v);
    }
    return out;
  }

  #upsertParams(key: LinkKey, t: SealedTokens, now: number): unknown[] {
    const refresh = t.refresh ?? { token: null, digest: null };
    return [
      key.providerId,
      key.userId,
      t.access_token,
      t.token_type,
      refresh.token,
      refresh.digest,
      this.#conn.toDb(t.expires_at),
      t.extra ?? null,
      this.#conn.toDb(now),
      LINKS_CHANNEL,
      this.#payload(key),
      t.account ?? null,
      t.granted_scopes ?? null,
    ];
  }

  #remember(key: LinkKey, record: LinkRecord): LinkRecord {
    this.#cache.set(this.#digest(key), record, true);
    return record;
  }
}
