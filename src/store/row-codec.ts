import type { SealContext, Sealer } from "../crypto/index.js";
import type { LinkKey, LinkMeta, LinkRecord, NewTokens } from "./link-store.js";

/** The table every link secret is sealed for (part of each value's SealContext). */
export const LINKS_TABLE = "links";

/** The sealed columns of `links`; each name is also the SealContext column. */
export const SEALED_COLUMNS = ["access_token", "refresh_token", "extra", "failure_reason"] as const;
export type SealedColumn = (typeof SEALED_COLUMNS)[number];

/** A `links` row as both stores read it (the PostgreSQL store reads int8 as a number). */
export interface LinkRow {
  provider_id: string;
  user_id: string;
  version: number;
  access_token: Buffer | null;
  token_type: string;
  refresh_token: Buffer | null;
  refresh_token_digest: string | null;
  expires_at: number | null;
  extra: Buffer | null;
  failure_reason: Buffer | null;
  failed_at: number | null;
  lease_owner: string | null;
  lease_until: number | null;
  generation: number;
  created_at: number;
  updated_at: number;
  last_refreshed_at: number | null;
  refresh_sent_at: number | null;
  refresh_sent_by: string | null;
  refresh_sent_digest: string | null;
  /**
   * The digest of the refresh token a recorded failure cleared (migration
   * 4): a late answer to that token's send still heals the link
   * (link-core.ts casAllows). Set by recordFailure, cleared by put and
   * commit; independent of refresh_token, which is NULL while it is set.
   */
  failed_digest: string | null;
  /** The provider's name for the account (migration 6): not sealed, not a secret. */
  account: string | null;
  /** The granted scopes, space-separated as RFC 6749 §3.3 spells them (migration 6); "" = none, NULL = unknown. */
  granted_scopes: string | null;
}

/** The columns of LeaseRow (lease-core.ts), for a SELECT. */
export const LEASE_COLUMNS =
  "lease_owner, lease_until, generation, refresh_token_digest, refresh_sent_at, refresh_sent_by, refresh_sent_digest";

/** The columns a listing reads: no sealed bytes at all. */
export interface LinkMetaRow {
  provider_id: string;
  user_id: string;
  version: number;
  has_refresh_token: 0 | 1;
  expires_at: number | null;
  failed_at: number | null;
  created_at: number;
  updated_at: number;
  last_refreshed_at: number | null;
  account: string | null;
  granted_scopes: string | null;
}

export const META_COLUMNS =
  "provider_id, user_id, version, refresh_token IS NOT NULL AS has_refresh_token, expires_at, failed_at, created_at, updated_at, last_refreshed_at, account, granted_scopes";

/** Granted scopes as a column: space-separated (a scope token never holds a space); null stays null. */
export function scopesToColumn(scopes: readonly string[] | null): string | null {
  return scopes === null ? null : scopes.join(" ");
}

/** The column read back: "" is "none granted", NULL is "never said". */
export function scopesFromColumn(column: string | null): string[] | null {
  return column === null ? null : column.split(" ").filter((s) => s !== "");
}

/** A refresh token as stored: sealed, its digest, and the plaintext it came from. */
export interface SealedRefresh {
  token: Buffer | null;
  digest: string | null;
  plain: string | null;
}

/** A write's values, sealed before any statement runs. */
export interface SealedTokens {
  access_token: Buffer | null;
  token_type: string;
  expires_at: number | null;
  /** undefined: keep the stored refresh token (and digest). */
  refresh?: SealedRefresh;
  /** undefined: keep the stored extra. */
  extra?: Buffer | null;
  /** undefined: keep the stored account (a put writes NULL). */
  account?: string | null;
  /** undefined: keep the stored scopes (a put writes NULL). */
  granted_scopes?: string | null;
}

/**
 * A commit's values: the answer's, and — when the answer kept the refresh
 * token — the token that was sent, sealed too, for a heal to restore (a
 * failure cleared the stored one; link-core.ts committedColumns).
 */
export interface SealedCommit extends SealedTokens {
  sent?: SealedRefresh;
}

/**
 * Converts between plaintext values and sealed column bytes. Empty strings
 * and empty `extra` objects are never sealed: they are stored as NULL.
 */
export class RowCodec {
  constructor(readonly sealer: Sealer) {}

  context(key: LinkKey, column: SealedColumn): SealContext {
    return { table: LINKS_TABLE, column, providerId: key.providerId, userId: key.userId };
  }

  /** Seals a non-empty string; "" and null become NULL. */
  seal(key: LinkKey, column: SealedColumn, value: string | null): Buffer | null {
    if (value === null || value === "") return null;
    return this.sealer.seal(value, this.context(key, column));
  }

  /** Opens a sealed column; NULL reads back as null. Throws DecryptError. */
  open(key: LinkKey, column: SealedColumn, envelope: Uint8Array | null): string | null {
    if (envelope === null) return null;
    return this.sealer.open(envelope, this.context(key, column));
  }

  sealExtra(key: LinkKey, extra: Record<string, string>): Buffer | null {
    const entries = Object.entries(extra);
    if (entries.length === 0) return null;
    for (const [name, value] of entries) {
      if (typeof value !== "string") throw new TypeError(`extra["${name}"] must be a string`);
    }
    return this.seal(key, "extra", JSON.stringify(extra));
  }

  openExtra(key: LinkKey, envelope: Uint8Array | null): Record<string, string> {
    const json = this.open(key, "extra", envelope);
    if (json === null) return {};
    const parsed: unknown = JSON.parse(json);
    if (parsed === null || typeof parsed !== "object" || Array.isArray(parsed)) {
      throw new Error(`links.extra of ${key.providerId}/${key.userId} is not a JSON object`);
    }
    const out: Record<string, string> = {};
    for (const [name, value] of Object.entries(parsed)) {
      if (typeof value !== "string") throw new Error(`links.extra of ${key.providerId}/${key.userId} has a non-string value`);
      out[name] = value;
    }
    return out;
  }

  /** Seals what a write stores; an undefined or empty refresh token, or undefined extra, keeps the stored one. */
  sealTokens(key: LinkKey, tokens: NewTokens): SealedTokens {
    const sealed: SealedTokens = {
      access_token: this.seal(key, "access_token", tokens.accessToken),
      token_type: tokens.tokenType,
      expires_at: tokens.expiresAt,
    };
    if (tokens.refreshToken !== undefined && tokens.refreshToken !== "") sealed.refresh = this.sealRefresh(key, tokens.refreshToken);
    if (tokens.extra !== undefined) sealed.extra = this.sealExtra(key, tokens.extra);
    if (tokens.account !== undefined) sealed.account = tokens.account;
    if (tokens.grantedScopes !== undefined) sealed.granted_scopes = scopesToColumn(tokens.grantedScopes);
    return sealed;
  }

  /** A non-empty refresh token sealed, with its digest. */
  sealRefresh(key: LinkKey, plain: string): SealedRefresh {
    return { token: this.seal(key, "refresh_token", plain), digest: this.sealer.digest(plain), plain };
  }

  /**
   * What a commit writes: `tokens` sealed and, when they keep the refresh
   * token, `sent` (the token the answer is to) sealed as well, before any
   * transaction starts: if a failure cleared the stored token, the heal
   * restores the one that was sent, which the provider did not rotate.
   */
  sealCommit(key: LinkKey, tokens: NewTokens, sent: string): SealedCommit {
    const sealed: SealedCommit = this.sealTokens(key, tokens);
    if (sealed.refresh === undefined && sent !== "") sealed.sent = this.sealRefresh(key, sent);
    return sealed;
  }

  /** Opens every sealed column of a row. Throws DecryptError for that row. */
  decodeRecord(row: LinkRow): LinkRecord {
    const key: LinkKey = { providerId: row.provider_id, userId: row.user_id };
    const accessToken = this.open(key, "access_token", row.access_token) ?? "";
    const refreshToken = this.open(key, "refresh_token", row.refresh_token);
    const extra = this.openExtra(key, row.extra);
    const refreshFailure =
      row.failed_at === null
        ? null
        : { reason: this.open(key, "failure_reason", row.failure_reason) ?? "", failedAt: row.failed_at };
    return {
      providerId: row.provider_id,
      userId: row.user_id,
      version: row.version,
      accessToken,
      tokenType: row.token_type,
      refreshToken,
      expiresAt: row.expires_at,
      extra,
      refreshFailure,
      createdAt: row.created_at,
      updatedAt: row.updated_at,
      lastRefreshedAt: row.last_refreshed_at,
      account: row.account,
      grantedScopes: scopesFromColumn(row.granted_scopes),
    };
  }
}

export function decodeMeta(row: LinkMetaRow): LinkMeta {
  return {
    providerId: row.provider_id,
    userId: row.user_id,
    version: row.version,
    hasRefreshToken: row.has_refresh_token === 1,
    expiresAt: row.expires_at,
    refreshFailure: row.failed_at === null ? null : { failedAt: row.failed_at },
    createdAt: row.created_at,
    updatedAt: row.updated_at,
    lastRefreshedAt: row.last_refreshed_at,
    account: row.account,
    grantedScopes: scopesFromColumn(row.granted_scopes),
  };
}
