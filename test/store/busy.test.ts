import { describe, expect, it } from "vitest";
import { StoreUnavailableError } from "../../src/store/store-errors.js";
import type { SqliteStore } from "../../src/store/sqlite/index.js";
import { KEY, T0, tokens, useTempStores } from "./helpers.js";
import { holdWriteLock } from "./lock-holder.js";

const t = useTempStores();

const fresh = { accessToken: "at-2", tokenType: "Bearer", refreshToken: "rt-2", expiresAt: T0 + 7_200_000 };
const OTHER = { providerId: "gitlab", userId: "bob" };

function rawRow(path: string): unknown {
  return t.raw(path).prepare("SELECT * FROM links WHERE provider_id = ? AND user_id = ?").get(KEY.providerId, KEY.userId);
}

/** The largest gap between ticks of a 5 ms interval while `work` runs: how long the event loop was blocked. */
async function largestTickGap<T>(work: () => Promise<T>): Promise<{ result: T; gapMs: number }> {
  let last = performance.now();
  let gapMs = 0;
  const timer = setInterval(() => {
    const now = performance.now();
    gapMs = Math.max(gapMs, now - last);
    last = now;
  }, 5);
  try {
    const result = await work();
    return { result, gapMs: Math.max(gapMs, performance.now() - last) };
  } finally {
    clearInterval(timer);
  }
}

describe("a database locked by another process", () => {
  it("a commit waits it out without blocking the event loop, while cached and uncached reads keep answering", async () => {
    const path = t.dbPath();
    const store = t.links(path);
    await store.put(OTHER, tokens({ accessToken: "bob-at" }), T0);
    const cached = await store.get(OTHER);

    // On a shared 2-core machine the OS alone can pause this process for tens of
    // milliseconds now and then; a synchronous wait in the store shows up in every
    // run, so the bound must hold in at least one of three.
    const gaps: number[] = [];
    for (let run = 0; run < 3 && !gaps.some((g) => g < 50); run++) {
      await store.put(KEY, tokens(), T0);
      const lock = await holdWriteLock(path, 1000);
      const readMs: number[] = [];
      const { result, gapMs } = await largestTickGap(async () => {
        const commit = store.commitRefresh(KEY, { version: 1 + 2 * run, refreshToken: "rt-1" }, fresh, T0 + 1).then((rec) => ({ rec, at: performance.now() }));
        // Meanwhile: cache hits, and a read that misses the cache (WAL readers never wait for the writer).
        for (let i = 0; i < 40; i++) {
          const started = performance.now();
          expect(await store.get(OTHER)).toBe(cached);
          expect(await store.readLease(KEY)).toBeNull();
          readMs.push(performance.now() - started);
          await new Promise((r) => setTimeout(r, 10));
        }
        return commit;
      });
      const releasedAt = await lock.released;

      expect(result.rec).toMatchObject({ version: 2 + 2 * run, accessToken: "at-2", refreshToken: "rt-2" });
      // It committed only once the other process let go (IPC delivery may trail the release a little).
      expect(result.at).toBeGreaterThan(lock.lockedAt + 900);
      expect(result.at).toBeGreaterThan(releasedAt - 100);
      expect(await store.get(KEY)).toEqual(result.rec);
      gaps.push(Math.max(gapMs, ...readMs));
    }
    expect(Math.min(...gaps), `largest event-loop gap per run: ${gaps.map((g) => g.toFixed(0)).join(", ")} ms`).toBeLessThan(50);
  });

  it("held past the busy budget: StoreUnavailableError(SQLITE_BUSY), nothing changed, and the connection still works", async () => {
    const path = t.dbPath();
    const store = t.links(path, undefined, { busyBudgetMs: 300 });
    await store.put(KEY, tokens(), T0);
    const before = rawRow(path);

    const lock = await holdWriteLock(path, 1500);
    const started = performance.now();
    const err: unknown = await store.commitRefresh(KEY, { version: 1, refreshToken: "rt-1" }, fresh, T0 + 1).catch((e: unknown) => e);
    const elapsed = performance.now() - started;
    expect(err).toBeInstanceOf(StoreUnavailableError);
    expect(err).toMatchObject({ name: "StoreUnavailableError", code: "SQLITE_BUSY", operation: "links.commitRefresh" });
    expect((err as StoreUnavailableError).retryAfterMs).toBeGreaterThan(0);
    expect((err as Error).message).toBe("the store cannot serve links.commitRefresh now (SQLITE_BUSY)");
    expect(elapsed).toBeGreaterThanOrEqual(290);
    expect(elapsed).toBeLessThan(1200);
    await lock.released;

    expect(rawRow(path)).toEqual(before);
    expect(await store.get(KEY)).toMatchObject({ version: 1, refreshToken: "rt-1" });
    expect(await store.commitRefresh(KEY, { version: 1, refreshToken: "rt-1" }, fresh, T0 + 2)).toMatchObject({ version: 2, refreshToken: "rt-2" });
  });
});

describe("the record cache across a write that waits for the lock", () => {
  it("reads served while a failure waits to be recorded leave no stale record behind", async () => {
    const path = t.dbPath();
    const store = t.links(path);
    await store.put(KEY, tokens(), T0);
    const lock = await holdWriteLock(path, 300);
    const recorded = store.recordFailure(KEY, "rt-1", "invalid_grant", T0 + 1);
    // Until the write commits, readers see (and may cache) the row as it is.
    expect((await store.get(KEY))?.refreshToken).toBe("rt-1");
    await lock.released;
    expect(await recorded).toBe(true);
    expect(await store.get(KEY)).toMatchObject({ refreshToken: null, refreshFailure: { reason: "invalid_grant" } });
  });
});

describe("every write turns a busy database into StoreUnavailableError; reads do not wait", () => {
  const writes: Array<[string, (s: SqliteStore) => Promise<unknown>]> = [
    ["links.put", (s) => s.links.put(OTHER, tokens(), T0)],
    ["links.putMany", (s) => s.links.putMany([{ key: OTHER, tokens: tokens() }], T0)],
    ["links.commitRefresh", (s) => s.links.commitRefresh(KEY, { version: 1, refreshToken: "rt-1" }, fresh, T0 + 1)],
    ["links.recordFailure", (s) => s.links.recordFailure(KEY, "rt-1", "invalid_grant", T0 + 1)],
    ["links.claimLease", (s) => s.links.claimLease(KEY, "a", 1000, null)],
    ["links.confirmLease", (s) => s.links.confirmLease(KEY, { owner: "a", generation: 1 }, 1, 1000)],
    ["links.releaseLease", (s) => s.links.releaseLease(KEY, { owner: "a", generation: 1 })],
    ["links.delete", (s) => s.links.delete(KEY)],
    ["flows.createAuthFlow", (s) => s.flows.createAuthFlow({ stateHash: "s", ...KEY, codeVerifier: "v", redirectAfter: null, createdAt: T0, expiresAt: T0 + 1 })],
    ["flows.takeAuthFlow", (s) => s.flows.takeAuthFlow("s", T0)],
    [
      "flows.createDeviceFlow",
      (s) => s.flows.createDeviceFlow({ sessionHash: "d", ...KEY, deviceCode: "dc", intervalMs: 5000, nextPollAt: T0, createdAt: T0, expiresAt: T0 + 1 }),
    ],
    ["flows.claimDevicePoll", (s) => s.flows.claimDevicePoll("d", T0, 5000)],
    ["flows.setDevicePoll", (s) => s.flows.setDevicePoll("d", 5000, T0)],
    ["flows.deleteDeviceFlow", (s) => s.flows.deleteDeviceFlow("d")],
    ["flows.purgeExpiredFlows", (s) => s.flows.purgeExpiredFlows(T0)],
    ["keyring.putSentinel", (s) => s.keyring.putSentinel("k9", Buffer.from("s"), T0)],
    ["keyring.reseal", (s) => s.keyring.reseal(undefined, 10)],
  ];

  it("writes", async () => {
    const path = t.dbPath();
    const store = t.open(path, undefined, { busyBudgetMs: 30 });
    await store.links.put(KEY, tokens(), T0);
    const raw = t.raw(path);
    raw.exec("BEGIN IMMEDIATE");
    try {
      for (const [operation, write] of writes) {
        const err: unknown = await write(store).catch((e: unknown) => e);
        expect(err, operation).toBeInstanceOf(StoreUnavailableError);
        expect(err, operation).toMatchObject({ code: "SQLITE_BUSY", operation });
      }
    } finally {
      raw.exec("ROLLBACK");
    }
    // Nothing was written, and each write works once the lock is gone.
    expect(await store.links.count()).toBe(1);
    for (const [operation, write] of writes) await expect(write(store), operation).resolves.not.toBeInstanceOf(Error);
  });

  it("reads", async () => {
    const path = t.dbPath();
    const store = t.open(path, undefined, { busyBudgetMs: 30 });
    await store.links.put(KEY, tokens(), T0);
    await store.keyring.putSentinel("k1", Buffer.from("s"), T0);
    const raw = t.raw(path);
    raw.exec("BEGIN IMMEDIATE");
    raw.prepare("UPDATE links SET expires_at = 5").run(); // uncommitted: invisible to readers
    // Opening an up-to-date database does not wait for the lock either.
    const uncached = t.links(path, undefined, { cacheEntries: 0 });
    try {
      expect(await store.links.get(KEY)).toMatchObject({ expiresAt: T0 + 3_600_000 });
      expect(await uncached.get(KEY)).toMatchObject({ expiresAt: T0 + 3_600_000 });
      expect(await store.links.readLease(KEY)).toBeNull();
      expect(await store.links.list({ limit: 10 })).toHaveLength(1);
      expect(await store.links.count()).toBe(1);
      expect(await store.flows.getDeviceFlow("none")).toBeUndefined();
      expect(await store.keyring.listSentinels()).toHaveLength(1);
      expect((await store.keyring.countByKeyId()).get("k1")).toBe(3);
    } finally {
      raw.exec("ROLLBACK");
    }
  });
});
