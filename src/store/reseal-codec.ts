import type { SealContext, Sealer } from "../crypto/index.js";
import { UNREADABLE_KEY_ID, type ResealBatch } from "./keyring-store.js";
import { LINKS_TABLE, SEALED_COLUMNS, type LinkRow, type SealedColumn } from "./row-codec.js";
import { assertMillis } from "./validate.js";

/** What re-sealing reads of a link row. */
export type ResealRow = Pick<
  LinkRow,
  "provider_id" | "user_id" | "version" | "access_token" | "refresh_token" | "refresh_token_digest" | "extra" | "failure_reason"
>;

/** A row's values under the active key (the digest re-made), to write back iff the version is unchanged. */
export type ResealedValues = Record<SealedColumn, Buffer | null> & { refresh_token_digest: string | null };

/**
 * Key rotation's rule for one link row, the same for every store: every
 * value not sealed under the active key is opened and sealed again, and the
 * refresh-token digest is re-made under the active key. Plaintext does not
 * change. undefined when the row is already current. A value that fails to
 * open throws DecryptError: rotation never skips a value silently.
 *
 * failed_digest is left as it is: the token it names was cleared, so there
 * is no plaintext to re-make it from. It names its key, so a heal still
 * matches it while that key is in the keyring (Sealer.digestMatches); once
 * the key is retired a late answer to that send no longer heals the link.
 */
export function resealLinkRow(sealer: Sealer, row: ResealRow): ResealedValues | undefined {
  const stale = SEALED_COLUMNS.some((c) => {
    const v = row[c];
    return v !== null && sealer.keyIdOf(v) !== sealer.activeKeyId;
  });
  const staleDigest = row.refresh_token_digest !== null && !row.refresh_token_digest.startsWith(`${sealer.activeKeyId}:`);
  if (!stale && !staleDigest) return undefined;
  const next: Partial<ResealedValues> = {};
  let refreshPlain: string | undefined;
  for (const column of SEALED_COLUMNS) {
    const v = row[column];
    if (v === null) {
      next[column] = null;
      continue;
    }
    const ctx = { table: LINKS_TABLE, column, providerId: row.provider_id, userId: row.user_id };
    const plain = sealer.open(v, ctx);
    if (column === "refresh_token") refreshPlain = plain;
    next[column] = sealer.keyIdOf(v) === sealer.activeKeyId ? v : sealer.seal(plain, ctx);
  }
  next.refresh_token_digest = refreshPlain === undefined ? row.refresh_token_digest : sealer.digest(refreshPlain);
  return next as ResealedValues;
}

/** A flow secret under the active key, or undefined when it already is. */
export function resealValue(sealer: Sealer, envelope: Buffer, ctx: SealContext): Buffer | undefined {
  if (sealer.keyIdOf(envelope) === sealer.activeKeyId) return undefined;
  return sealer.seal(sealer.open(envelope, ctx), ctx);
}

/**
 * The sending marker after a row's re-seal: a marker that named the stored
 * refresh token moves to its new digest, so a rotation never hides an
 * interrupted refresh (SQL: the CASE in each store's re-seal UPDATE).
 */
export function resealedMarker(row: Pick<LinkRow, "refresh_token_digest" | "refresh_sent_digest">, newDigest: string | null): string | null {
  return row.refresh_sent_digest === row.refresh_token_digest ? newDigest : row.refresh_sent_digest;
}

/** How many values each key id sealed, from envelope headers (nothing is decrypted); unreadable headers count under UNREADABLE_KEY_ID. */
export function countKeyIds(sealer: Sealer, envelopes: Iterable<Uint8Array>): Map<string, number> {
  const counts = new Map<string, number>();
  for (const v of envelopes) {
    let keyId: string;
    try {
      keyId = sealer.keyIdOf(v);
    } catch {
      keyId = UNREADABLE_KEY_ID;
    }
    counts.set(keyId, (counts.get(keyId) ?? 0) + 1);
  }
  return counts;
}

/** A re-seal batch's answer: the next batch starts after the last row scanned, unless the page was short. */
export function resealBatch(rows: ReadonlyArray<Pick<LinkRow, "provider_id" | "user_id">>, limit: number, resealed: number): ResealBatch {
  const last = rows.at(-1);
  return {
    resealed,
    scanned: rows.length,
    next: rows.length < limit || last === undefined ? undefined : { providerId: last.provider_id, userId: last.user_id },
  };
}

/** putSentinel's argument checks. */
export function checkSentinelArgs(keyId: string, now: number): void {
  if (typeof keyId !== "string" || keyId === "") throw new TypeError("keyId must be a non-empty string");
  assertMillis("now", now);
}
