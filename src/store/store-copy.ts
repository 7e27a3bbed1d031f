import type { CallerTokenRow } from "./caller-token-store.js";
import { DecryptError, KeyringError, checkKeyring, keyIdOfEnvelope, type Keyring, type Sealer } from "../crypto/index.js";
import { authFlowContext, deviceFlowContext, type AuthFlowRow, type DeviceFlowRow } from "./flow-codec.js";
import type { LinkKey } from "./link-store.js";
import { LINKS_TABLE, SEALED_COLUMNS, type LinkRow } from "./row-codec.js";

/**
 * Moving a store to another database (`tokenbroker store migrate`,
 * docs/design.md §4.6): rows are copied as stored — envelopes and digests
 * byte for byte, so no plaintext passes through — and the AAD binds
 * table, column, provider and user, which stay the same, so every envelope
 * opens on the target. Times are epoch ms, copied as stored: no clock
 * offset is applied on the way (an `expires_at` of 2027-01-01T00:00:00Z
 * reads back as exactly that on the target).
 */

/** A `key_sentinels` row. */
export interface SentinelRow {
  key_id: string;
  envelope: Buffer;
  created_at: number;
}

export interface TableCounts {
  links: number;
  auth_flows: number;
  device_flows: number;
  key_sentinels: number;
  caller_tokens: number;
}

export const COPIED_TABLES = ["links", "auth_flows", "device_flows", "key_sentinels", "caller_tokens"] as const;

/** A store read as it is, in one consistent snapshot. */
export interface CopySource {
  counts(): Promise<TableCounts>;
  /** Every link row in key order, `size` at a time. */
  linkBatches(size: number): AsyncIterable<LinkRow[]>;
  authFlows(): Promise<AuthFlowRow[]>;
  deviceFlows(): Promise<DeviceFlowRow[]>;
  sentinels(): Promise<SentinelRow[]>;
  /** Job-scoped caller tokens (digests only, migration 5). */
  callerTokens(): Promise<CallerTokenRow[]>;
  /** The last word before the target commits: throws (rolling the copy back) if the source was taken up meanwhile. */
  beforeCommit?(): Promise<void>;
}

/** The target's side, inside the one transaction the whole copy runs in. */
export interface CopyWriter {
  counts(): Promise<TableCounts>;
  /** Empties every copied table (for --overwrite). */
  clear(): Promise<void>;
  insertLinks(rows: readonly LinkRow[]): Promise<void>;
  insertAuthFlows(rows: readonly AuthFlowRow[]): Promise<void>;
  insertDeviceFlows(rows: readonly DeviceFlowRow[]): Promise<void>;
  insertSentinels(rows: readonly SentinelRow[]): Promise<void>;
  insertCallerTokens(rows: readonly CallerTokenRow[]): Promise<void>;
  /** The stored rows of these keys (as the target reads them back). */
  readLinks(keys: readonly LinkKey[]): Promise<LinkRow[]>;
  authFlows(): Promise<AuthFlowRow[]>;
  deviceFlows(): Promise<DeviceFlowRow[]>;
  sentinels(): Promise<SentinelRow[]>;
}

export interface CopyTarget {
  /** Runs `body` in one transaction with the copied tables locked against writers; a throw rolls it all back. */
  transaction<T>(body: (w: CopyWriter) => Promise<T>): Promise<T>;
}

export interface CopyOptions {
  /** Replace what the target holds instead of refusing. */
  overwrite: boolean;
  /** Rows per INSERT (default 1000). */
  batchSize?: number;
  /** Links whose values are opened on the target after the copy (default 256). */
  sampleSize?: number;
  onProgress?: (copied: number, total: number) => void;
}

export interface CopyResult {
  counts: TableCounts;
  /** Sealed values opened on the target (links sampled, every flow, every sentinel). */
  opened: number;
}

/** Why a copy did not happen or did not verify; nothing was changed on the target. */
export class StoreCopyError extends Error {
  override readonly name = "StoreCopyError";
  constructor(
    message: string,
    readonly code: "TARGET_NOT_EMPTY" | "KEYS_DO_NOT_OPEN" | "VERIFY_FAILED",
  ) {
    super(message);
  }
}

const DEFAULT_BATCH = 1000;
const DEFAULT_SAMPLE = 256;

/**
 * Copies every row of `source` into `target` in one transaction: the keys
 * are checked against the source's sentinels first (a wrong keys file
 * copies nothing), a non-empty target is refused unless `overwrite`, and
 * before the commit the target's counts must equal the source's and a
 * sample of values must open on the target to what they open to on the
 * source. Any failure rolls back, leaving the target as it was.
 */
export async function copyStore(source: CopySource, target: CopyTarget, keyring: Keyring, sealer: Sealer, opts: CopyOptions): Promise<CopyResult> {
  const batchSize = opts.batchSize ?? DEFAULT_BATCH;
  const sampleSize = opts.sampleSize ?? DEFAULT_SAMPLE;
  const sourceSentinels = await checkSourceKeys(source, keyring);
  const counts = await source.counts();
  return target.transaction(async (w) => {
    const held = await w.counts();
    const rows = COPIED_TABLES.reduce((n, t) => n + held[t], 0);
    if (rows > 0 && !opts.overwrite) {
      throw new StoreCopyError(`the target is not empty (${describeCounts(held)}); nothing was changed (--overwrite replaces its contents)`, "TARGET_NOT_EMPTY");
    }
    if (rows > 0) await w.clear();
    await w.insertSentinels(sourceSentinels);
    await w.insertAuthFlows(await source.authFlows());
    await w.insertDeviceFlows(await source.deviceFlows());
    await w.insertCallerTokens(await source.callerTokens());
    const stride = Math.max(1, Math.floor(counts.links / sampleSize));
    const sample: LinkRow[] = [];
    let copied = 0;
    for await (const batch of source.linkBatches(batchSize)) {
      await w.insertLinks(batch);
      for (let i = 0; i < batch.length; i++) if ((copied + i) % stride === 0) sample.push(batch[i] as LinkRow);
      copied += batch.length;
      opts.onProgress?.(copied, counts.links);
    }
    const written = await w.counts();
    for (const t of COPIED_TABLES) {
      if (written[t] !== counts[t]) throw new StoreCopyError(`${t}: the source has ${counts[t]} rows, the target ${written[t]} after the copy; rolled back`, "VERIFY_FAILED");
    }
    const opened = await verifyOpens(w, keyring, sealer, sample);
    await source.beforeCommit?.();
    return { counts, opened };
  });
}

export function describeCounts(c: TableCounts): string {
  return COPIED_TABLES.map((t) => `${c[t]} ${t}`).join(", ");
}

/**
 * Checks the keys file against the source's key sentinels, writing nothing
 * anywhere: `store migrate` calls it before it opens (and migrates) the
 * target. On a mismatch the message names the keys the source's values are
 * actually sealed under (read from their envelopes), not the sentinels of
 * keys retired long ago. Returns the source's sentinels.
 */
export async function checkSourceKeys(source: CopySource, keyring: Keyring): Promise<SentinelRow[]> {
  const sentinels = await source.sentinels();
  try {
    await checkKeyring(keyring, { listSentinels: async () => sentinels.map((s) => ({ keyId: s.key_id, envelope: s.envelope })) });
  } catch (err) {
    if (!(err instanceof KeyringError) || err.code !== "KEY_MISMATCH") {
      throw new StoreCopyError(`the keys file does not open the source's values: ${(err as Error).message}`, "KEYS_DO_NOT_OPEN");
    }
    const used = await sealingKeyIds(source);
    const under = used.length > 0 ? `its values are sealed under key(s) ${used.join(", ")}` : `it holds no sealed values; its key sentinels name ${sentinels.map((s) => s.key_id).join(", ")}`;
    throw new StoreCopyError(
      `the keys file does not open the source's values: ${under}; the keyring has ${keyring.keyIds.join(", ")} (wrong keys file?); nothing was written`,
      "KEYS_DO_NOT_OPEN",
    );
  }
  return sentinels;
}

/** The key ids named by the envelopes of every sealed value in the source, sorted. */
async function sealingKeyIds(source: CopySource): Promise<string[]> {
  const ids = new Set<string>();
  const note = (v: Buffer | null): void => {
    if (v === null) return;
    try {
      ids.add(keyIdOfEnvelope(v));
    } catch {
      // Not an envelope we can read: it names no key.
    }
  };
  for await (const batch of source.linkBatches(DEFAULT_BATCH)) for (const row of batch) for (const c of SEALED_COLUMNS) note(row[c]);
  for (const f of await source.authFlows()) note(f.code_verifier);
  for (const f of await source.deviceFlows()) note(f.device_code);
  return [...ids].sort();
}

async function checkKeys(keyring: Keyring, sentinels: readonly SentinelRow[], where: string): Promise<void> {
  try {
    await checkKeyring(keyring, { listSentinels: async () => sentinels.map((s) => ({ keyId: s.key_id, envelope: s.envelope })) });
  } catch (err) {
    throw new StoreCopyError(`the keys file does not open ${where}'s values: ${(err as Error).message}`, "KEYS_DO_NOT_OPEN");
  }
}

/** Opens the sample, every flow and every sentinel as the target stores them, comparing with the source's plaintext. */
async function verifyOpens(w: CopyWriter, keyring: Keyring, sealer: Sealer, sample: readonly LinkRow[]): Promise<number> {
  await checkKeys(keyring, await w.sentinels(), "the target");
  const stored = new Map((await w.readLinks(sample.map((r) => ({ providerId: r.provider_id, userId: r.user_id })))).map((r) => [`${r.provider_id}\0${r.user_id}`, r]));
  let opened = 0;
  const open = (what: string, value: Buffer, unseal: (v: Buffer) => string): string => {
    try {
      const plain = unseal(value);
      opened++;
      return plain;
    } catch (err) {
      if (!(err instanceof DecryptError)) throw err;
      throw new StoreCopyError(`${what} does not open on the target (${err.message}); rolled back`, "VERIFY_FAILED");
    }
  };
  for (const src of sample) {
    const key = { providerId: src.provider_id, userId: src.user_id };
    const dst = stored.get(`${key.providerId}\0${key.userId}`);
    const where = `link (${key.providerId}, ${key.userId})`;
    if (dst === undefined) throw new StoreCopyError(`${where} is missing on the target; rolled back`, "VERIFY_FAILED");
    if (dst.refresh_token_digest !== src.refresh_token_digest || dst.failed_digest !== src.failed_digest || dst.version !== src.version) {
      throw new StoreCopyError(`${where}: version or a refresh-token digest differs on the target; rolled back`, "VERIFY_FAILED");
    }
    if (dst.account !== src.account || dst.granted_scopes !== src.granted_scopes) {
      throw new StoreCopyError(`${where}: the account or the granted scopes differ on the target; rolled back`, "VERIFY_FAILED");
    }
    for (const column of SEALED_COLUMNS) {
      const [a, b] = [src[column], dst[column]];
      const unseal = (v: Buffer): string => sealer.open(v, { table: LINKS_TABLE, column, ...key });
      if (a === null || b === null ? a !== b : unseal(a) !== open(`${where} ${column}`, b, unseal)) {
        throw new StoreCopyError(`${where} ${column} differs on the target; rolled back`, "VERIFY_FAILED");
      }
    }
  }
  for (const f of await w.authFlows()) {
    if (f.code_verifier !== null) open("an authorization flow's verifier", f.code_verifier, (v) => sealer.open(v, authFlowContext(f.provider_id, f.user_id)));
  }
  for (const f of await w.deviceFlows()) open("a device flow's code", f.device_code, (v) => sealer.open(v, deviceFlowContext(f.provider_id, f.user_id)));
  return opened;
}
