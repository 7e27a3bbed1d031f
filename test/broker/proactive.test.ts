/**
 * docs/design.md §3.4: refreshing ahead of expiry, in virtual time. The
 * engine runs on the simulation's timeline (sim/virtual-time.ts: the
 * injected clock drives every wait, the scheduler's timers included), over
 * the in-memory store and a counting token endpoint in process. No real
 * sleeps: a test moves time and reads what the provider saw.
 */
import { describe, expect, it } from "vitest";
import { RefreshEngine } from "../../src/broker/engine.js";
import type { AheadOutcome } from "../../src/broker/engine-events.js";
import { noEvents } from "../../src/broker/engine-events.js";
import type { Clock } from "../../src/broker/clock.js";
import type { RefreshRequest, TokenEndpoint } from "../../src/broker/token-endpoint.js";
import type { ProviderConfig, RefreshSettings } from "../../src/config/config.js";
import { createLogger } from "../../src/log.js";
import { OAuthError, type TokenSet } from "../../src/oauth/index.js";
import { ProviderRegistry, type ProviderEntry } from "../../src/providers/registry.js";
import type { LinkKey, LinkStore } from "../../src/store/link-store.js";
import { MemoryDatabase, openMemoryStore } from "../../src/store/memory/index.js";
import { VirtualTime, type SimProcess } from "../../sim/virtual-time.js";

const START = Date.UTC(2026, 0, 1);
const SEC = 1000;

/** A provider in process: single-use rotation (a spent token is a replay), fixed lifetime and latency, requests counted. */
class CountingProvider implements TokenEndpoint {
  readonly requests: Array<{ at: number; link: string }> = [];
  inFlight = 0;
  peak = 0;
  replays = 0;
  /** Answer the next requests with a 429 and this Retry-After. */
  rateLimitedFor = 0;
  readonly #current = new Map<string, string>();
  readonly #linkOf = new Map<string, string>();
  #n = 0;

  constructor(
    private readonly time: VirtualTime,
    private readonly proc: SimProcess,
    public lifetimeSec: number,
    public latencyMs = 200,
  ) {}

  issue(link: string): { accessToken: string; refreshToken: string } {
    const n = ++this.#n;
    const refreshToken = `rt-${link}-${n}`;
    this.#current.set(link, refreshToken);
    this.#linkOf.set(refreshToken, link);
    return { accessToken: `at-${link}-${n}`, refreshToken };
  }

  async refresh(_p: ProviderEntry, refreshToken: string, _req: RefreshRequest): Promise<TokenSet> {
    const link = this.#linkOf.get(refreshToken) ?? "?";
    this.requests.push({ at: this.time.now, link });
    this.inFlight++;
    this.peak = Math.max(this.peak, this.inFlight);
    try {
      await this.time.sleep(this.proc, this.latencyMs);
    } finally {
      this.inFlight--;
    }
    if (this.rateLimitedFor > 0) {
      throw new OAuthError({ kind: "rate_limited", sent: "answered", status: 429, message: "rate limited", retryAfterMs: this.rateLimitedFor });
    }
    if (this.#current.get(link) !== refreshToken) {
      this.replays++;
      throw new OAuthError({ kind: "permanent", sent: "answered", status: 400, error: "invalid_grant", message: "replay" });
    }
    const t = this.issue(link);
    return { accessToken: t.accessToken, refreshToken: t.refreshToken, tokenType: "bearer", expiresInSec: this.lifetimeSec, extra: {}, notes: [] };
  }

  async revoke(): Promise<{ revoked: boolean }> {
    return { revoked: false };
  }

  of(link: string): number[] {
    return this.requests.filter((r) => r.link === link).map((r) => r.at);
  }
}

function providerConfig(id: string, over: Partial<ProviderConfig> = {}): ProviderConfig {
  return {
    id,
    type: "oauth2",
    displayName: id,
    clientId: "c",
    clientSecret: "s",
    tokenUrl: "http://127.0.0.1:9/token",
    scopes: [],
    extraTokenKeys: [],
    pkceMethods: ["S256"],
    deviceFlow: false,
    noRefresh: false,
    rotationGraceMs: 0,
    resendIsProbe: false,
    tokenAuthMethod: "client_secret_basic",
    authUrlParams: {},
    revocation: "none",
    quirks: "standard",
    ...over,
  };
}

function settings(over: Partial<RefreshSettings> = {}): RefreshSettings {
  return {
    minValidForMs: 0,
    timeoutMs: 5_000,
    initialBackoffMs: 100,
    maxBackoffMs: 800,
    budgetMs: 2_000,
    providerConcurrency: 8,
    validate: false,
    misconfiguredBackoffMs: 1_000,
    leaseTtlMs: 10_000,
    answerTimeoutMs: 20_000,
    interruptedWindowMs: 30_000,
    keepFreshForMs: 86_400_000,
    ...over,
  };
}

/** A seeded generator (mulberry32), so a run is a function of its seed. */
function seeded(seed: number): () => number {
  let a = seed >>> 0;
  return () => {
    a = (a + 0x6d2b79f5) >>> 0;
    let t = a;
    t = Math.imul(t ^ (t >>> 15), t | 1);
    t ^= t + Math.imul(t ^ (t >>> 7), t | 61);
    return ((t ^ (t >>> 14)) >>> 0) / 4294967296;
  };
}

interface World {
  time: VirtualTime;
  provider: CountingProvider;
  database: MemoryDatabase;
  store: LinkStore;
  engines: RefreshEngine[];
  outcomes: AheadOutcome[];
  engine(opts?: { settings?: Partial<RefreshSettings>; providers?: ProviderConfig[]; seed?: number }): RefreshEngine;
  seed(link: string, lifetimeSec?: number | null, providerId?: string): Promise<void>;
  run(ms: number): Promise<void>;
}

function world(lifetimeSec = 100, latencyMs = 200): World {
  const time = new VirtualTime(START);
  const proc: SimProcess = { name: "provider", host: "p", pid: 1, paused: false, dead: false, offset: 0 };
  const provider = new CountingProvider(time, proc, lifetimeSec, latencyMs);
  const database = new MemoryDatabase({ clock: { now: () => time.now } });
  const store = openMemoryStore({ database }).links;
  const outcomes: AheadOutcome[] = [];
  let pid = 100;
  const w: World = {
    time,
    provider,
    database,
    store,
    engines: [],
    outcomes,
    engine(o = {}) {
      const me: SimProcess = { name: `p${pid}`, host: `h${pid}`, pid: pid++, paused: false, dead: false, offset: 0 };
      const clock: Clock = { now: () => time.now, sleep: (ms, signal) => time.sleep(me, ms, signal) };
      const s = settings(o.settings);
      const engine = new RefreshEngine({
        store: openMemoryStore({ database }).links,
        providers: new ProviderRegistry(o.providers ?? [providerConfig("p")], { publicUrl: "http://127.0.0.1:9", refresh: s }),
        settings: s,
        log: createLogger("silent"),
        clock,
        random: seeded(o.seed ?? 7),
        tokenEndpoint: provider,
        identity: { host: me.host, bootId: "b", pidNamespace: "1", pid: me.pid, startTicks: "1", nonce: me.name },
        probe: () => "1",
        events: { ...noEvents, refreshedAhead: (_k, outcome) => outcomes.push(outcome) },
      });
      w.engines.push(engine);
      return engine;
    },
    async seed(link, lifetime = lifetimeSec, providerId = "p") {
      const t = provider.issue(link);
      await store.put({ providerId, userId: link }, { ...t, tokenType: "bearer", expiresAt: lifetime === null ? null : time.now + lifetime * SEC, extra: {} }, time.now);
    },
    run: (ms) => time.runUntil(time.now + ms),
  };
  return w;
}

const key = (link: string, providerId = "p"): LinkKey => ({ providerId, userId: link });

/** Settles a promise on virtual time: runs the timeline until it has settled (at most `maxMs`). */
async function settle<T>(w: World, p: Promise<T>, maxMs = 60_000): Promise<{ value: T; at: number }> {
  let done: { value: T; at: number } | undefined;
  let failed: unknown;
  p.then(
    (value) => (done = { value, at: w.time.now }),
    (err: unknown) => (failed = err ?? new Error("rejected")),
  );
  for (let i = 0; i < maxMs / 10 && done === undefined && failed === undefined; i++) await w.run(10);
  if (failed !== undefined) throw failed;
  if (done === undefined) throw new Error(`not settled within ${maxMs} ms of virtual time`);
  return done;
}

async function stopAll(w: World): Promise<void> {
  await Promise.all(w.engines.map((e) => settle(w, e.drain(), 120_000)));
}

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
