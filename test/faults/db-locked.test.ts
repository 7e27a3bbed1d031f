/**
 * docs/design.md §3 invariant 10: another process holds the SQLite
 * write lock for 10 s, taken right after the daemon's refresh request reached
 * the provider (before it answers). The rotated token must be committed once
 * the lock clears (the next refresh presents it), the refreshing caller gets
 * the new token or STORE_UNAVAILABLE (never INTERNAL), and meanwhile cached
 * calls for other links keep answering in milliseconds (p99 within a floor measured in the same run): the
 * event loop never waits on the database.
 */
import * as grpc from "@grpc/grpc-js";
import { afterEach, expect, it } from "vitest";
import { describeOutcome, type Outcome } from "./support/broker-client.js";
import { FaultRig, expectRotatedTokenCommitted, expiredSeed, sleep } from "./support/rig.js";
import { holdWriteLock } from "./support/write-lock.js";

const LOCK_MS = 10_000;
const CACHED_CALLS = 200;
const CALL_EVERY_MS = 20;
/** Calls of the floor taken before the lock. */
const FLOOR_CALLS = 100;

let rig: FaultRig | undefined;
afterEach(async () => {
  await rig?.close();
  rig = undefined;
});

/** Nearest-rank percentile. */
function percentile(values: number[], p: number): number {
  const sorted = [...values].sort((a, b) => a - b);
  return sorted[Math.max(0, Math.ceil((p / 100) * sorted.length) - 1)]!;
}

it("write lock held 10 s by another process during a refresh: committed after, STORE_UNAVAILABLE or the token meanwhile, cached calls p99 within the floor of the same run", async () => {
  rig = await FaultRig.start({ expiresInSec: 120 });
  const { fake } = rig;
  const d = await rig.daemon({ refresh: { timeout: "5s" } });
  const others = Array.from({ length: 10 }, (_, i) => `cached-${i}`);
  for (const u of others) await d.client.importLink(u, fake.issue({ accessTtlSec: 3600 }));
  for (const u of others) expect((await d.client.obtain(u)).ok).toBe(true); // warm
  // The floor: the same cached calls on the same schedule with no lock held, in this run, on this machine.
  const floor = await cachedCalls(d, others, FLOOR_CALLS);
  const floorP99 = percentile(floor.map((o) => o.ms), 99);
  await d.client.importLink("u", expiredSeed(fake));

  fake.expiresInSec = 3; // the token refreshed under the lock has expired when it clears
  const presented: Array<string | undefined> = [];
  let rotated: string | undefined;
  fake.beforeRespond = async (ctx) => {
    presented.push(ctx.presentedRefreshToken);
    rotated ??= ctx.issued?.refreshToken;
  };
  const held = fake.holdNextTokenRequest();
  // Judged when it arrives: the 3 s token it may carry has expired by the time the cached calls are done.
  const refreshing = d.client.obtain("u", { minValidMs: 0, deadlineMs: 30_000 }).then((o) => ({ o, valid: o.ok && fake.isValid(o.token.accessToken) }));
  await held.arrived;
  const lock = await holdWriteLock(`${rig.dir}/tb.db`, LOCK_MS);
  held.release();
  await held.answered;
  fake.expiresInSec = 120;

  const answers = await cachedCalls(d, others, CACHED_CALLS);
  const stillLocked = lock.held();
  const failed = answers.filter((o) => !o.ok);
  expect(failed.map(describeOutcome)).toEqual([]);
  const latencies = answers.map((o) => o.ms);
  const p99 = percentile(latencies, 99);
  // A loop that waited on the lock would add the busy wait to every call sent meanwhile (hundreds of
  // ms); the bound is the floor's p99 with room for the locking process's own load, never below 100 ms.
  const bound = Math.max(100, 3 * floorP99 + 50);
  expect(p99, `p99 ${p99.toFixed(1)} ms (floor p99 ${floorP99.toFixed(1)} ms, bound ${bound.toFixed(0)} ms), max ${Math.max(...latencies).toFixed(1)} ms over ${answers.length} cached calls`).toBeLessThan(bound);
  expect(stillLocked, "the cached calls must all be answered while the lock is still held").toBe(true);

  const { o: first, valid } = await refreshing;
  const what = describeOutcome(first);
  if (first.ok) {
    expect(valid, what).toBe(true);
  } else {
    expect(first.code, what).toBe(grpc.status.UNAVAILABLE);
    expect(first.reason, what).toBe("STORE_UNAVAILABLE");
    expect(first.detail?.retry?.retryDelay, what).toBeDefined();
  }

  await lock.released;
  // A fresh process knows only what reached the database: its refresh presents the rotated token
  // (it may have to wait for the first daemon's commit retry).
  const fresh = await rig.daemon({ refresh: { timeout: "5s" } });
  await expectRotatedTokenCommitted(rig, "u", fresh, [d], presented, rotated);
});

/** `n` cached calls sent on a fixed schedule, not one after another, so a frozen event loop delays every call sent meanwhile. */
async function cachedCalls(d: { client: { obtain: (user: string, o?: { deadlineMs?: number }) => Promise<Outcome> } }, users: string[], n: number): Promise<Outcome[]> {
  const started = performance.now();
  const calls: Array<Promise<Outcome>> = [];
  for (let i = 0; i < n; i++) {
    await sleep(Math.max(0, started + i * CALL_EVERY_MS - performance.now()));
    calls.push(d.client.obtain(users[i % users.length]!, { deadlineMs: 15_000 }));
  }
  return Promise.all(calls);
}
