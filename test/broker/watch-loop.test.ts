/**
 * broker/watch.ts's loop in process, on the harness's SkippableClock (no
 * real waits for the schedule): the first state at once; nothing before the
 * planned refresh time; at it one provider refresh, shared by two watchers
 * on two engines (two store connections: two processes), each seeing the
 * new token with a greater generation; another process's recorded failure
 * ends a watch with REAUTH_REQUIRED; an unlink with LINK_NOT_FOUND.
 */
import { describe, expect, it } from "vitest";
import { planWatch, lifetimeOf, watchLink, type WatchState } from "../../src/broker/watch.js";
import { BrokerError } from "../../src/errors/index.js";
import { harness, key } from "./harness.js";

const MIN_VALID_MS = 10_000;
/** Long enough that only the clock decides when the loop looks again. */
const POLL_MS = 3_600_000;

describe("watchLink on the injected clock", () => {
  it("refreshes at the planned time, not before, once for two watchers on two engines; both get the new token with a greater generation", async () => {
    const h = await harness();
    const k = key("w1");
    const { record } = await h.seed(k, { accessTtlSec: 60 });
    const other = h.secondEngine();
    const stop = new AbortController();
    const watchers = [h.engine, other].map((engine) => watchLink({ engine, store: h.store, clock: h.clock, key: k, minValidMs: MIN_VALID_MS, signal: stop.signal, pollMs: POLL_MS }));
    const firsts = await Promise.all(watchers.map((w) => w.next()));
    for (const f of firsts) expect((f.value as WatchState).record.accessToken).toBe(record.accessToken);
    const { refreshAt } = planWatch(record.expiresAt, lifetimeOf(record), MIN_VALID_MS);
    const nexts = watchers.map((w) => w.next());
    let settled = 0;
    for (const n of nexts) void n.then(() => settled++);

    await h.clock.advance(refreshAt! - h.clock.now() - 500);
    expect(h.fake.refreshes, "no refresh before the planned time").toBe(0);
    expect(settled).toBe(0);

    await h.clock.advance(1_000);
    const states = (await h.skipWaits(Promise.all(nexts))).map((n) => n.value as WatchState);
    expect(h.fake.refreshes, "one refresh for both watchers").toBe(1);
    for (const [i, s] of states.entries()) {
      expect(s.record.accessToken).toBe(h.issued[0]!.accessToken);
      expect(s.generation).toBeGreaterThan((firsts[i]!.value as WatchState).generation);
      expect(s.failing).toBeUndefined();
      expect(s.record.expiresAt! - h.clock.now()).toBeGreaterThanOrEqual(MIN_VALID_MS);
    }
    stop.abort();
    for (const w of watchers) await w.return(undefined as never);
  });

  it("a failure recorded by another process ends the watch with REAUTH_REQUIRED; an unlink ends one with LINK_NOT_FOUND", async () => {
    const h = await harness();
    const failed = key("failed");
    const gone = key("gone");
    const seeded = await h.seed(failed, { accessTtlSec: 600 });
    await h.seed(gone, { accessTtlSec: 600 });
    const stop = new AbortController();
    const open = (k: typeof failed) => watchLink({ engine: h.engine, store: h.store, clock: h.clock, key: k, minValidMs: MIN_VALID_MS, signal: stop.signal, pollMs: 1_000 });
    const a = open(failed);
    const b = open(gone);
    await a.next();
    await b.next();
    const ends = [a.next().catch((e: unknown) => e), b.next().catch((e: unknown) => e)];
    // As another process would: written straight to the row, nothing told to the watch.
    expect(await h.store.recordFailure(failed, seeded.tokens.refreshToken, "invalid_grant", h.clock.now())).toBe(true);
    await h.store.delete(gone);
    await h.clock.advance(1_000);
    const [endA, endB] = await Promise.all(ends);
    expect(endA).toBeInstanceOf(BrokerError);
    expect((endA as BrokerError).reason).toBe("REAUTH_REQUIRED");
    expect((endB as BrokerError).reason).toBe("LINK_NOT_FOUND");
    stop.abort();
  });

  it("a re-link (new tokens written by another process) is delivered at the next look, with a greater generation, and no provider refresh", async () => {
    const h = await harness();
    const k = key("relinked");
    await h.seed(k, { accessTtlSec: 600 });
    const stop = new AbortController();
    const w = watchLink({ engine: h.engine, store: h.store, clock: h.clock, key: k, minValidMs: MIN_VALID_MS, signal: stop.signal, pollMs: 1_000 });
    const first = (await w.next()).value as WatchState;
    const fresh = h.fake.issue({ accessTtlSec: 600 });
    h.secrets.add(fresh.accessToken);
    h.secrets.add(fresh.refreshToken);
    const next = w.next();
    await h.store.put(k, { accessToken: fresh.accessToken, tokenType: "bearer", refreshToken: fresh.refreshToken, expiresAt: fresh.expiresAt, extra: {} }, h.clock.now());
    await h.clock.advance(1_000);
    const state = (await next).value as WatchState;
    expect(state.record.accessToken).toBe(fresh.accessToken);
    expect(state.generation).toBeGreaterThan(first.generation);
    expect(h.fake.refreshes).toBe(0);
    stop.abort();
    await w.return(undefined as never);
  });
});
