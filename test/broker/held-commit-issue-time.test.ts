/**
 * docs/design.md §3 invariants 10 and 16: a commit held in memory while the
 * database is locked is served to the caller at once (nothing on its way
 * back waits for the store: neither the commit nor the lease, which the
 * held commit keeps) and stored, when it lands, with the time the provider
 * answered — not the time the lock cleared. last_refreshed_at is how the
 * engine learns the lifetime it got (expires_at, counted from the send,
 * minus it); a late stamp would shorten that lifetime by however long the
 * lock lasted and could make a reachable min_valid_for look unreachable. The lock is held by
 * another process, past the store's 2 s busy budget.
 */
import { describe, expect, it } from "vitest";
import { holdWriteLock, type HeldWriteLock } from "../faults/support/write-lock.js";
import { harness, key, stored, until } from "./harness.js";

describe("a commit held through a locked database", () => {
  it("is served while the lock lasts, then stored with the answer's time, so the lifetime it got stays exact", async () => {
    // A generous request timeout: the answer waits for another process to start and lock.
    const h = await harness({ fake: { expiresInSec: 120 }, settings: { timeoutMs: 10_000 } });
    const k = key("alice");
    await h.seed(k, { accessTtlSec: 5 });
    let lock: Promise<HeldWriteLock> | undefined;
    h.onRespond = async (ctx) => {
      // The provider has rotated; its answer leaves only once the file is locked.
      if (ctx.issued !== undefined) await (lock ??= holdWriteLock(h.dbPath, 3_000));
    };

    const asked = h.clock.now();
    const served = await h.engine.obtain(k, 60_000);
    const held = await lock!;
    // Served from memory at once: nothing on the way back to the caller waits for the store.
    expect(held.held()).toBe(true);
    expect(h.engine.pendingCommits).toBe(1);
    await held.released;
    const lockClearedAt = Date.now();
    await until(() => h.engine.pendingCommits === 0, "the held commit to land", 15_000);

    const rec = await stored(h, k);
    expect(rec.refreshToken).toBe(h.issued[0]!.refreshToken);
    expect(rec.lastRefreshedAt).toBe(served.lastRefreshedAt);
    expect(rec.lastRefreshedAt!).toBeLessThan(lockClearedAt);
    // Expiry counts from the send (after `asked`), the stamp is the answer's: the lifetime got is
    // the provider's minus the round trip, never minus the lock's duration.
    expect(rec.expiresAt!).toBeGreaterThanOrEqual(asked + 120_000);
    expect(rec.expiresAt! - rec.lastRefreshedAt!).toBeLessThanOrEqual(120_000);
    expect(h.fake.replays).toBe(0);
  });
});
