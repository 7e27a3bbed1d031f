/**
 * Job-scoped caller tokens (docs/design.md §6): issued by a provisioner,
 * bound to one user (and optionally some providers), valid until
 * `expiresAt`, revocable. The store never sees a token: only the SHA-256 of
 * it (hex), which is what a presented token is looked up by. All times are
 * epoch milliseconds.
 */
export interface CallerTokenRecord {
  /** Not a secret: names the token in RevokeCallerToken, ListCallerTokens and the audit log. */
  id: string;
  /** SHA-256 of the token, lowercase hex. */
  digest: string;
  userId: string;
  /** Empty: any provider. */
  providerIds: string[];
  scopes: string[];
  label: string;
  /** The caller that issued it. */
  issuedBy: string;
  createdAt: number;
  expiresAt: number;
  revokedAt: number | null;
}

export interface CallerTokenStore {
  insertCallerToken(record: CallerTokenRecord): Promise<void>;
  /** The token whose SHA-256 is `digest`, whatever its state (the caller judges expiry and revocation). */
  findCallerToken(digest: string): Promise<CallerTokenRecord | undefined>;
  /** Marks it revoked at `now`; false when it is unknown, already revoked or expired. */
  revokeCallerToken(id: string, now: number): Promise<boolean>;
  /** Newest first; only those active at `activeAt` when it is given. */
  listCallerTokens(filter: { userId?: string | undefined; activeAt?: number | undefined }): Promise<CallerTokenRecord[]>;
}

/** A `caller_tokens` row (migration 5), as both SQL stores hold it. */
export interface CallerTokenRow {
  id: string;
  token_sha256: string;
  user_id: string;
  /** JSON array of strings. */
  provider_ids: string;
  /** JSON array of strings. */
  scopes: string;
  label: string;
  issued_by: string;
  created_at: number;
  expires_at: number;
  revoked_at: number | null;
}

export function callerTokenRow(r: CallerTokenRecord): CallerTokenRow {
  return {
    id: r.id,
    token_sha256: r.digest,
    user_id: r.userId,
    provider_ids: JSON.stringify(r.providerIds),
    scopes: JSON.stringify(r.scopes),
    label: r.label,
    issued_by: r.issuedBy,
    created_at: r.createdAt,
    expires_at: r.expiresAt,
    revoked_at: r.revokedAt,
  };
}

export function callerTokenRecord(row: CallerTokenRow): CallerTokenRecord {
  return {
    id: row.id,
    digest: row.token_sha256,
    userId: row.user_id,
    providerIds: stringArray(row.provider_ids),
    scopes: stringArray(row.scopes),
    label: row.label,
    issuedBy: row.issued_by,
    createdAt: Number(row.created_at),
    expiresAt: Number(row.expires_at),
    revokedAt: row.revoked_at === null ? null : Number(row.revoked_at),
  };
}

function stringArray(json: string): string[] {
  const parsed: unknown = JSON.parse(json);
  return Array.isArray(parsed) ? parsed.map(String) : [];
}
