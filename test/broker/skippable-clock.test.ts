import { describe, expect, it } from "vitest";
import { SkippableClock } from "./skippable-clock.js";

describe("SkippableClock", () => {
  it("follows real time until skipped; a sleep ends by real time too", async () => {
    const clock = new SkippableClock();
    expect(Math.abs(clock.now() - Date.now())).toBeLessThanOrEqual(1);
    const started = performance.now();
    await clock.sleep(30);
    expect(performance.now() - started).toBeGreaterThanOrEqual(25);
  });

  it("advance wakes each sleep it passes at its own deadline, in order, before moving on", async () => {
    const clock = new SkippableClock();
    const t0 = clock.now();
    const woke: Array<[string, number]> = [];
    // A heartbeat every 100 ms (each woken one sleeps again) and one long wait.
    const beat = async (): Promise<void> => {
      for (let i = 0; i < 3; i++) {
        await clock.sleep(100);
        woke.push(["beat", clock.now() - t0]);
      }
    };
    const beating = beat();
    const long = clock.sleep(250).then(() => woke.push(["long", clock.now() - t0]));
    const started = performance.now();
    await clock.advance(10_000);
    await Promise.all([beating, long]);
    expect(performance.now() - started).toBeLessThan(1000);
    expect(woke.map(([what]) => what)).toEqual(["beat", "beat", "long", "beat"]);
    const at = woke.map(([, ms]) => ms);
    // Each at (or, by real time passing meanwhile, just after) its deadline, never at the end of the skip.
    for (const [i, deadline] of [100, 200, 250, 300].entries()) {
      expect(at[i]).toBeGreaterThanOrEqual(deadline);
      expect(at[i]).toBeLessThan(deadline + 100);
    }
    expect(clock.now() - t0).toBeGreaterThanOrEqual(10_000);
    expect(clock.sleeping).toBe(0);
  });

  it("an aborted sleep rejects and is forgotten", async () => {
    const clock = new SkippableClock();
    const ac = new AbortController();
    const sleeping = clock.sleep(60_000, ac.signal);
    expect(clock.sleeping).toBe(1);
    ac.abort();
    await expect(sleeping).rejects.toMatchObject({ name: "AbortError" });
    expect(clock.sleeping).toBe(0);
  });

  it("skipWaits skips to each wake-up, but not while busy nor further than maxSkipMs", async () => {
    const clock = new SkippableClock();
    const t0 = clock.now();
    let busy = true;
    const work = clock.sleep(5_000).then(() => clock.now() - t0);
    setTimeout(() => (busy = false), 50);
    const started = performance.now();
    const skipped = await clock.skipWaits(work, () => busy);
    expect(performance.now() - started).toBeGreaterThanOrEqual(45); // waited while busy
    expect(performance.now() - started).toBeLessThan(1000); // then skipped the rest
    expect(skipped).toBeGreaterThanOrEqual(5_000);
    // A wake-up is skipped to only once it is at most maxSkipMs away: real time covers the rest.
    const again = performance.now();
    await clock.skipWaits(clock.sleep(60), () => false, 10);
    expect(performance.now() - again).toBeGreaterThanOrEqual(45);
  });
});
