import { randomBytes } from "node:crypto";
import { AesSealer, Keyring, loadKeys } from "../src/crypto/index.js";
import { openSqliteStore } from "../src/store/sqlite/index.js";

export interface DirectSeed {
  links: number;
  ms: number;
  perSec: number;
}

/**
 * Seeds a store file before its daemon starts, in batches through the
 * store's own bulk import (SqliteLinks.putMany: one transaction and one
 * fsync per batch), sealed under the daemon's keys file — the fast path for
 * the 100,000-link store. ImportLink, one fsync'd transaction per link, runs
 * at a few hundred links/s on a busy 2-core machine; the scale scenario still
 * imports a sample through it to measure that rate on a big store.
 * (This is the bench's own build of the store: with --cli pointing at another
 * build, both must share the schema.)
 */
export async function seedStoreDirect(opts: {
  dbPath: string;
  keysFile: string;
  providerId: string;
  userPrefix: string;
  count: number;
  expiresAtMs: number;
  batch?: number;
}): Promise<DirectSeed> {
  const batch = opts.batch ?? 5000;
  const t0 = performance.now();
  const store = openSqliteStore({ path: opts.dbPath, sealer: new AesSealer(new Keyring(loadKeys({ keysFile: opts.keysFile }).keys)) });
  try {
    const now = Date.now();
    for (let from = 0; from < opts.count; from += batch) {
      const n = Math.min(batch, opts.count - from);
      await store.links.putMany(
        Array.from({ length: n }, (_, i) => ({
          key: { providerId: opts.providerId, userId: `${opts.userPrefix}${from + i}` },
          tokens: {
            accessToken: `bench_at_${randomBytes(24).toString("base64url")}`,
            tokenType: "bearer",
            refreshToken: `bench_rt_${randomBytes(24).toString("base64url")}`,
            expiresAt: opts.expiresAtMs,
            extra: {},
          },
        })),
        now,
      );
    }
  } finally {
    await store.close();
  }
  const ms = performance.now() - t0;
  return { links: opts.count, ms, perSec: opts.count / (ms / 1000) };
}
