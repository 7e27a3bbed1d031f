/**
 * docs/design.md §3.4, "When": the capacity-aware start. Links that come
 * due together start early enough for the provider's background slots to
 * get through all of them before their deadlines (the end of the useful
 * life, when a caller would have to wait), never before half of it; with no
 * backlog a link still starts at its jittered 75–80 %. In virtual time
 * (ahead-world.ts): no real sleeps.
 */
import { describe, expect, it } from "vitest";
import { AHEAD_FLOOR, COST_MARGIN, CapacityPlanner, INITIAL_COST_MS, capacityStart, latestStarts, type Planned } from "../../src/broker/ahead-capacity.js";
import { SEC, key, settle, stopAll, world, type World } from "./ahead-world.js";

/** Seeds `n` links at once (one deadline) and has a caller use each; returns when they were issued. */
async function wave(w: World, n: number, engines = w.engines): Promise<{ links: string[]; issuedAt: number }> {
  const links = Array.from({ length: n }, (_, i) => `u${i}`);
  const issuedAt = w.time.now;
  for (const l of links) await w.seed(l);
  for (const l of links) for (const e of engines) await settle(w, e.obtain(key(l), 0));
  return { links, issuedAt };
}

describe("capacity-aware start of background refreshes (docs/design.md §3.4)", () => {
  it("the backward pass: the k-th link in deadline order leaves its slot when the (k+slots)-th must start", () => {
    const pending = [0, 0, 0, 0, 0].map(() => ({ deadline: 100, ownLatest: 80 }));
    // Two slots, cost 4 (× margin): the last two are free to start at 80; the two before must by 80 − 5; the first by 75 − 5.
    const c = 4 * COST_MARGIN;
    expect([...latestStarts(pending, 2, 4)]).toEqual([80 - 2 * c, 80 - c, 80 - c, Infinity, Infinity]);
    // No backlog, or a latest start after the own due time: the due time, exactly.
    expect(capacityStart(77, Infinity, 50)).toBe(77);
    expect(capacityStart(77, 79, 50)).toBe(77);
    // A backlog: earlier, never before the floor.
    expect(capacityStart(77, 60, 50)).toBe(60);
    expect(capacityStart(77, 10, 50)).toBe(50);
  });

  it("a plan remade from the last one's order (changed deadlines, new links, links started) equals one made from scratch", () => {
    type Link = Planned & { busy: boolean; provider: string };
    let x = 12345;
    const rnd = (): number => ((x = (Math.imul(x, 1103515245) + 12345) >>> 0) / 2 ** 32);
    const link = (provider = "p"): Link => {
      const deadline = Math.floor(rnd() * 100_000);
      return { provider, busy: false, deadline, ownLatest: deadline - 20_000, latest: Infinity, planned: Number.NaN };
    };
    const links = Array.from({ length: 500 }, (_, i) => link(i % 5 === 0 ? "q" : "p"));
    const planner = new CapacityPlanner<Link>();
    const replan = (now: number): Link[][] => planner.replan(now, links, (l) => l.provider, (l) => !l.busy, () => 3);
    planner.changed("p", 0);
    expect(replan(0)).toHaveLength(1); // only p's plan was stale
    expect(links.filter((l) => l.provider === "q").every((l) => l.latest === Infinity)).toBe(true);
    for (let round = 1; round <= 5; round++) {
      for (const l of links) {
        const r = rnd();
        if (r < 0.1) l.deadline += Math.floor(rnd() * 50_000) - 10_000;
        else if (r < 0.15) l.busy = !l.busy;
        l.ownLatest = l.deadline - 20_000;
      }
      for (let i = 0; i < 20; i++) links.push(link());
      const now = round * 60_000;
      planner.changed("p", now);
      const [order] = replan(now);
      const expected = links.filter((l) => l.provider === "p" && !l.busy).sort((a, b) => a.deadline - b.deadline);
      expect(order?.map((l) => l.deadline)).toEqual(expected.map((l) => l.deadline));
      const latest = latestStarts(expected, 3, INITIAL_COST_MS);
      expect(expected.map((l) => l.latest)).toEqual([...latest]);
    }
  });

  it("N links due together with N·C/S over a quarter of the useful life: all refreshed before their deadline, none before half of it", async () => {
    // 300 links of 100 s, 200 ms a refresh, 2 background slots (provider_concurrency 4): 30 s of work —
    // more than the 20–25 s left after 75–80 %, so without the capacity-aware start the last ones come late.
    const lifetime = 100;
    const w = world(lifetime, 200);
    w.engine({ settings: { providerConcurrency: 4 } });
    const n = 300;
    const slots = 2;
    expect((n * 0.2) / slots).toBeGreaterThan(0.25 * lifetime);
    const { links, issuedAt } = await wave(w, n);
    const deadline = issuedAt + lifetime * SEC;
    await w.run(deadline - w.time.now + 5 * SEC);
    const late: string[] = [];
    for (const l of links) {
      const first = w.provider.of(l)[0];
      expect(first, l).toBeDefined();
      // The request was answered (200 ms later) before the token stopped satisfying callers.
      if ((first as number) + 200 > deadline) late.push(l);
      expect(first as number, l).toBeGreaterThanOrEqual(issuedAt + AHEAD_FLOOR * lifetime * SEC);
    }
    expect(late, `${late.length} of ${n} links passed their deadline before their background refresh`).toEqual([]);
    expect(w.provider.peak).toBeLessThanOrEqual(slots);
    expect(w.provider.replays).toBe(0);
    expect(w.outcomes.filter((o) => o !== "REFRESHED")).toEqual([]);
    // Once: a second round is not due before half of the new tokens' useful life.
    for (const l of links) expect(w.provider.of(l), l).toHaveLength(1);
    await stopAll(w);
  });

  it("a provider five times slower than the guessed cost: one link starts at the floor, and its answer plans the first wave in time", async () => {
    // 40 links, 2 s a refresh, 2 slots: 40 s of work. Planned with the guess (400 ms), the wave would start at
    // 70 s and its last dozen links pass their deadline; the first link, started at 50 s, teaches 2 s first.
    const lifetime = 100;
    const latency = 2_000;
    const w = world(lifetime, latency);
    w.engine({ settings: { providerConcurrency: 4 } });
    const { links, issuedAt } = await wave(w, 40);
    const deadline = issuedAt + lifetime * SEC;
    await w.run(deadline - w.time.now + 5 * SEC);
    const firsts = links.map((l) => w.provider.of(l)[0] ?? Infinity).sort((a, b) => a - b);
    expect(firsts[0]).toBe(issuedAt + AHEAD_FLOOR * lifetime * SEC);
    expect(firsts.filter((at) => at + latency > deadline)).toEqual([]);
    expect(w.provider.replays).toBe(0);
    await stopAll(w);
  });

  it("two processes with the same backlog: still one provider refresh per link, all before the deadline", async () => {
    const lifetime = 100;
    const w = world(lifetime, 200);
    w.engine({ settings: { providerConcurrency: 4 }, seed: 1 });
    w.engine({ settings: { providerConcurrency: 4 }, seed: 2 });
    const { links, issuedAt } = await wave(w, 300);
    const deadline = issuedAt + lifetime * SEC;
    await w.run(deadline - w.time.now + 5 * SEC);
    for (const l of links) {
      const times = w.provider.of(l);
      expect(times, l).toHaveLength(1);
      expect((times[0] as number) + 200, l).toBeLessThanOrEqual(deadline);
    }
    expect(w.provider.replays).toBe(0);
    await stopAll(w);
  });

  it("with no backlog a link is still refreshed at 75–80 % of its useful life, round after round (no earlier refreshes)", async () => {
    const lifetime = 100;
    const latency = 200;
    const w = world(lifetime, latency);
    const engine = w.engine({ settings: { providerConcurrency: 4 }, seed: 3 });
    const { links, issuedAt } = await wave(w, 4);
    // Kept in use: a caller every 20 s.
    for (let i = 0; i < 20; i++) {
      await w.run(20 * SEC);
      for (const l of links) await settle(w, engine.obtain(key(l), 0));
    }
    const u = lifetime * SEC;
    for (const l of links) {
      const times = w.provider.of(l);
      expect(times.length, l).toBeGreaterThanOrEqual(4);
      // Each token was issued when the request that got it was answered (`latency` after it; the wave's at the seed).
      let issued = issuedAt;
      for (const at of times) {
        expect(at - issued, `${l} at ${at - issuedAt} ms`).toBeGreaterThanOrEqual(0.75 * u);
        expect(at - issued, `${l} at ${at - issuedAt} ms`).toBeLessThan(0.8 * u + 100);
        issued = at + latency;
      }
    }
    expect(w.provider.replays).toBe(0);
    await stopAll(w);
  });
});
