/**
 * docs/design.md §3.4: refreshing ahead of expiry, in virtual time. The
 * engine runs on the simulation's timeline (sim/virtual-time.ts: the
 * injected clock drives every wait, the scheduler's timers included), over
 * the in-memory store and a counting token endpoint in process. No real
 * sleeps: a test moves time and reads what the provider saw.
 */
import { describe, expect, it } from "vitest";
import { SEC, key, providerConfig, settle, stopAll, world } from "./ahead-world.js";

describe("refreshing ahead (docs/design.md §3.4), in virtual time", () => {
  it("refreshes a link in use at 75–80 % of its lifetime, jittered per link, within those bounds", async () => {
    const w = world(100);
    const engine = w.engine({ seed: 42 });
    const links = Array.from({ length: 40 }, (_, i) => `u${i}`);
    for (const l of links) await w.seed(l);
    const t0 = w.time.now;
    for (const l of links) await settle(w, engine.obtain(key(l), 0));
    expect(w.provider.requests).toHaveLength(0);
    await w.run(99 * SEC);
    const at = links.map((l) => {
      const times = w.provider.of(l);
      expect(times, l).toHaveLength(1);
      return (times[0] as number) - t0;
    });
    for (const a of at) {
      expect(a).toBeGreaterThanOrEqual(75 * SEC);
      expect(a).toBeLessThanOrEqual(80 * SEC);
    }
    // Jittered: spread over the window, not all at one instant.
    expect(Math.max(...at) - Math.min(...at)).toBeGreaterThan(2.5 * SEC);
    expect(new Set(at).size).toBeGreaterThan(30);
    expect(w.provider.replays).toBe(0);
    expect(w.outcomes.filter((o) => o === "REFRESHED")).toHaveLength(40);
    // And again for the next token: refreshed ahead for as long as the link is in use.
    await w.run(100 * SEC);
    for (const l of links) expect(w.provider.of(l)).toHaveLength(2);
    await stopAll(w);
  });

  it("is never later than the largest recent min_valid_for before expiry: at 75–80 % of the time the token can satisfy it", async () => {
    const w = world(100);
    const engine = w.engine();
    await w.seed("a");
    const t0 = w.time.now;
    await settle(w, engine.obtain(key("a"), 40 * SEC)); // useful for 100 − 40 = 60 s: due at 45–48 s
    await w.run(10 * SEC);
    await settle(w, engine.obtain(key("a"), 5 * SEC)); // a smaller ask does not lift the cap
    await w.run(70 * SEC);
    const times = w.provider.of("a");
    expect(times).toHaveLength(1);
    expect((times[0] as number) - t0).toBeLessThanOrEqual(48 * SEC);
    expect((times[0] as number) - t0).toBeGreaterThanOrEqual(45 * SEC);
    // A caller asking 40 s never waited: the stored token always had more than that left.
    const rec = await w.store.get(key("a"));
    expect((rec?.expiresAt ?? 0) - w.time.now).toBeGreaterThan(40 * SEC);
    await stopAll(w);
  });

  it("leaves a link alone once nobody has used it for keep_fresh_for, and never touches unused links", async () => {
    const w = world(100);
    const engine = w.engine({ settings: { keepFreshForMs: 140 * SEC } });
    await w.seed("used");
    await w.seed("never");
    await settle(w, engine.obtain(key("used"), 1_000));
    await w.run(1_000 * SEC);
    // Refreshed once at ~75 s (in use); the next would be due at ~150 s, after keep_fresh_for ran out.
    expect(w.provider.of("used")).toHaveLength(1);
    expect(w.provider.of("never")).toHaveLength(0);
    expect(w.outcomes).toEqual(["REFRESHED"]);
    // Kept in memory only while in use.
    await stopAll(w);
  });

  it("keeps an idle-lifetime provider's unused links alive: refreshed before the refresh token's idle lifetime, each time", async () => {
    const w = world(10_000);
    const engine = w.engine({ providers: [providerConfig("p"), providerConfig("idle", { refreshTokenIdleLifetimeMs: 200 * SEC })] });
    await w.seed("a", 10_000, "idle");
    await w.seed("b", null, "idle"); // an access token that does not expire: its refresh token still dies idle
    await w.seed("c", 10_000, "p"); // no idle lifetime: left alone
    const t0 = w.time.now;
    await w.run(1_000 * SEC);
    for (const l of ["a", "b"]) {
      const times = [t0, ...w.provider.of(l)];
      expect(times.length - 1, l).toBeGreaterThanOrEqual(5);
      for (let i = 1; i < times.length; i++) {
        const gap = (times[i] as number) - (times[i - 1] as number);
        expect(gap, `${l} gap ${i}`).toBeLessThan(200 * SEC);
        // "Just often enough": not far earlier than 75 % of the idle lifetime.
        expect(gap, `${l} gap ${i}`).toBeGreaterThanOrEqual(150 * SEC - 1);
      }
    }
    expect(w.provider.of("c")).toHaveLength(0);
    void engine;
    await stopAll(w);
  });

  it("plans an idle-lifetime provider's link as in use again when a caller uses it after keep_fresh_for ran out: refreshed before its token expires", async () => {
    // Tokens live 30 s; a call keeps the link in use for 20 s. While in use, the first token is
    // refreshed ahead (at 75-80 % of the 25 s it can satisfy min_valid_for). Once keep_fresh_for
    // ran out the link is kept only for the idle lifetime (200 s), its next refresh planned for that
    // deadline — until a caller uses it again.
    const w = world(30);
    const engine = w.engine({ settings: { keepFreshForMs: 20 * SEC }, providers: [providerConfig("idle", { refreshTokenIdleLifetimeMs: 200 * SEC })] });
    await w.seed("a", 30, "idle");
    const t0 = w.time.now;
    await settle(w, engine.obtain(key("a", "idle"), 5 * SEC));
    await w.run(30 * SEC - (w.time.now - t0));
    const first = w.provider.of("a");
    expect(first, "refreshed ahead once while in use").toHaveLength(1);
    const expiresAt = first[0]! + 30 * SEC;
    await settle(w, engine.obtain(key("a", "idle"), 5 * SEC)); // answered at once (its token has ~19 s left), and in use again
    await w.run(15 * SEC);
    const sent = w.provider.of("a");
    expect(sent, "refreshed ahead again before the token expires, not at the idle deadline").toHaveLength(2);
    expect(sent[1]! - t0).toBeGreaterThanOrEqual(30 * SEC);
    expect(sent[1]!).toBeLessThan(expiresAt - 5 * SEC);
    await stopAll(w);
  });

  it("keeps background refreshes within the provider's concurrency limit (half of it, leaving room for callers)", async () => {
    const w = world(60, 2_000);
    const engine = w.engine({ settings: { providerConcurrency: 4 } });
    const links = Array.from({ length: 200 }, (_, i) => `u${i}`);
    for (const l of links) await w.seed(l);
    for (const l of links) await settle(w, engine.obtain(key(l), 1_000));
    const t0 = w.time.now;
    // 200 links due within 45–48 s, 2 s per request, 2 at a time: 200 s of work — more than the lifetime allows.
    await w.run(59 * SEC);
    expect(w.provider.peak).toBeLessThanOrEqual(2);
    expect(w.provider.peak).toBe(2);
    // A caller whose token can no longer satisfy it still finds a slot of the gate at once.
    const late = links.find((l) => w.provider.of(l).length === 0) as string;
    const asked = w.time.now;
    const got = await settle(w, engine.obtain(key(late), 30 * SEC));
    expect(got.at - asked).toBeLessThanOrEqual(2 * 2_000 + 100);
    expect(w.provider.replays).toBe(0);
    void t0;
    await stopAll(w);
  });

  it("in the advisory window: every caller gets the current token at once, and exactly one background refresh starts", async () => {
    const w = world(100, 5_000);
    const engine = w.engine();
    await w.seed("a");
    const old = await w.store.get(key("a"));
    await w.run(76 * SEC); // past 75 %: inside the advisory window (nobody used it yet, so nothing was scheduled)
    const asked = w.time.now;
    const calls = Array.from({ length: 20 }, () => engine.obtain(key("a"), 10 * SEC));
    const got = await Promise.all(calls.map((c) => settle(w, c)));
    for (const g of got) {
      expect(g.at).toBe(asked); // no wait on the provider
      expect(g.value.accessToken).toBe(old?.accessToken);
    }
    expect(w.provider.requests).toHaveLength(1);
    expect(engine.linksInAdvisoryWindow).toBe(1);
    // Only a caller the current token cannot satisfy waits — for the same refresh, not another.
    const needy = await settle(w, engine.obtain(key("a"), 30 * SEC));
    expect(needy.at).toBeGreaterThanOrEqual(asked + 5_000);
    expect(needy.value.accessToken).not.toBe(old?.accessToken);
    expect(w.provider.requests).toHaveLength(1);
    expect(engine.linksInAdvisoryWindow).toBe(0);
    const after = await settle(w, engine.obtain(key("a"), 10 * SEC));
    expect(after.value.accessToken).toBe(needy.value.accessToken);
    expect(w.provider.requests).toHaveLength(1);
    expect(w.outcomes).toEqual(["REFRESHED"]);
    await stopAll(w);
  });

  it("two processes scheduling the same links: exactly one provider refresh per rotation", async () => {
    const w = world(30);
    const a = w.engine({ seed: 1 });
    const b = w.engine({ seed: 2 });
    const links = ["x", "y", "z"];
    for (const l of links) await w.seed(l);
    for (const l of links) {
      await settle(w, a.obtain(key(l), 1_000));
      await settle(w, b.obtain(key(l), 1_000));
    }
    await w.run(300 * SEC);
    for (const l of links) {
      const times = w.provider.of(l);
      // One rotation every 75–80 % of 30 s, one request each.
      expect(times.length, l).toBeGreaterThanOrEqual(11);
      expect(times.length, l).toBeLessThanOrEqual(14);
      for (let i = 1; i < times.length; i++) expect((times[i] as number) - (times[i - 1] as number)).toBeGreaterThanOrEqual(20 * SEC);
    }
    expect(w.provider.replays).toBe(0);
    expect(w.outcomes.filter((o) => o === "REFRESHED").length).toBe(links.reduce((n, l) => n + w.provider.of(l).length, 0));
    await stopAll(w);
  });

  it("backs off the provider's background refreshes on a rate limit, and callers keep their token meanwhile", async () => {
    const w = world(100);
    const engine = w.engine({ settings: { providerConcurrency: 2 } });
    for (const l of ["a", "b", "c"]) await w.seed(l);
    for (const l of ["a", "b", "c"]) await settle(w, engine.obtain(key(l), 1_000));
    w.provider.rateLimitedFor = 10 * SEC;
    await w.run(80 * SEC);
    const limited = w.provider.requests.length;
    expect(limited).toBeGreaterThanOrEqual(1);
    // Within the Retry-After, no background refresh of the provider is sent.
    const firstAt = w.provider.requests[0]?.at as number;
    expect(w.provider.requests.filter((r) => r.at > firstAt + 1_000 && r.at < firstAt + 10 * SEC)).toHaveLength(0);
    const served = await settle(w, engine.obtain(key("a"), 1_000));
    expect(served.value.accessToken).toMatch(/^at-a-/);
    w.provider.rateLimitedFor = 0;
    await w.run(15 * SEC);
    for (const l of ["a", "b", "c"]) {
      const rec = await w.store.get(key(l));
      expect((rec?.expiresAt ?? 0) - w.time.now, l).toBeGreaterThan(80 * SEC);
    }
    expect(w.outcomes).toContain("PROVIDER_RATE_LIMITED");
    await stopAll(w);
  });
});
