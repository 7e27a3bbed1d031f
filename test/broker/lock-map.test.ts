/**
 * docs/design.md §3 invariant 1: the per-key lock map entry is dropped when unused,
 * so memory does not grow with the number of keys ever seen.
 *
 * To make 100,000 distinct keys really take their per-key lock without
 * 100,000 provider round trips, every row is stale (so obtain goes to the
 * lock) and its lease is held by another process far into the future (so
 * each locked attempt re-reads, fails to claim the lease and gives up with
 * PROVIDER_UNAVAILABLE without contacting the provider). The rows are
 * written in one transaction, sealed with the store's own codec, because
 * 100,000 durable puts would take minutes.
 */
import Database from "better-sqlite3";
import { describe, expect, it } from "vitest";
import { BrokerError, Reason } from "../../src/errors/index.js";
import { RowCodec } from "../../src/store/row-codec.js";
import { harness, key, testSettings } from "./harness.js";

const N = 100_000;
const BATCH = 5_000;

describe("the per-key lock map does not grow with keys ever seen (invariant 1)", () => {
  it(`${N.toLocaleString("en")} distinct keys through the lock leave lockCount at 0`, { timeout: 180_000 }, async () => {
    const h = await harness();
    const codec = new RowCodec(h.sealer);
    const now = Date.now();
    const db = new Database(h.dbPath, { timeout: 5000 });
    try {
      const insert = db.prepare(`
        INSERT INTO links (provider_id, user_id, version, access_token, token_type, refresh_token, refresh_token_digest,
                           expires_at, lease_owner, lease_until, generation, created_at, updated_at)
        VALUES (@p, @u, 1, @at, 'bearer', @rt, @digest, @exp, 'another-host:1:beef', @leaseUntil, 1, @now, @now)`);
      db.transaction(() => {
        for (let i = 0; i < N; i++) {
          const k = key(`u${i}`);
          const rt = `rt-${i}`;
          insert.run({
            p: k.providerId,
            u: k.userId,
            at: null, // no access token: stale whatever the clock says
            rt: codec.seal(k, "refresh_token", rt),
            digest: h.sealer.digest(rt),
            exp: now - 1000,
            leaseUntil: now + 3_600_000,
            now,
          });
        }
      })();
    } finally {
      db.close();
    }
    expect(await h.store.count()).toBe(N);

    // Give up on a foreign lease at once instead of waiting for it.
    const engine = h.newEngine({ leasePollMs: 1, settings: testSettings({ budgetMs: 0, timeoutMs: 1, leaseTtlMs: 1 }) });
    let peak = 0;
    const reasons = new Map<string, number>();
    for (let start = 0; start < N; start += BATCH) {
      const batch = Array.from({ length: Math.min(BATCH, N - start) }, (_, j) => engine.obtain(key(`u${start + j}`), 60_000));
      const settled = Promise.allSettled(batch);
      // Step through microtask turns: the callers reach their locks within a few.
      for (let turn = 0; turn < 20; turn++) {
        await Promise.resolve();
        peak = Math.max(peak, engine.lockCount);
      }
      for (const r of await settled) {
        const reason = r.status === "rejected" && r.reason instanceof BrokerError ? r.reason.reason : String(r.status === "rejected" ? r.reason : "fulfilled");
        reasons.set(reason, (reasons.get(reason) ?? 0) + 1);
      }
    }

    // Each key really went through the lock: the lease check lives only there.
    expect(Object.fromEntries(reasons)).toEqual({ [Reason.PROVIDER_UNAVAILABLE]: N });
    expect(peak).toBeGreaterThan(BATCH / 2);
    expect(engine.lockCount).toBe(0);
    expect(h.fake.tokenRequests).toBe(0);
  });
});
