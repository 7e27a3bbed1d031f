/**
 * A virtual-time world for refreshing ahead (docs/design.md §3.4): the
 * engine on the simulation's timeline (sim/virtual-time.ts), over the
 * in-memory store and a counting token endpoint in process. Shared by
 * proactive.test.ts and ahead-capacity.test.ts.
 */
import { RefreshEngine } from "../../src/broker/engine.js";
import type { AheadOutcome, EngineEvents } from "../../src/broker/engine-events.js";
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

export const START = Date.UTC(2026, 0, 1);
export const SEC = 1000;

/** A provider in process: single-use rotation (a spent token is a replay), fixed lifetime and latency, requests counted. */
export class CountingProvider implements TokenEndpoint {
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

export function providerConfig(id: string, over: Partial<ProviderConfig> = {}): ProviderConfig {
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

export function settings(over: Partial<RefreshSettings> = {}): RefreshSettings {
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
export function seeded(seed: number): () => number {
  let a = seed >>> 0;
  return () => {
    a = (a + 0x6d2b79f5) >>> 0;
    let t = a;
    t = Math.imul(t ^ (t >>> 15), t | 1);
    t ^= t + Math.imul(t ^ (t >>> 7), t | 61);
    return ((t ^ (t >>> 14)) >>> 0) / 4294967296;
  };
}

export interface World {
  time: VirtualTime;
  provider: CountingProvider;
  database: MemoryDatabase;
  store: LinkStore;
  engines: RefreshEngine[];
  outcomes: AheadOutcome[];
  /** `events`: reports a test listens to besides the background outcomes (`outcomes`). */
  engine(opts?: { settings?: Partial<RefreshSettings>; providers?: ProviderConfig[]; seed?: number; events?: Partial<EngineEvents> }): RefreshEngine;
  seed(link: string, lifetimeSec?: number | null, providerId?: string): Promise<void>;
  run(ms: number): Promise<void>;
}

export function world(lifetimeSec = 100, latencyMs = 200): World {
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
        events: { ...noEvents, ...o.events, refreshedAhead: (_k, outcome) => outcomes.push(outcome) },
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

export const key = (link: string, providerId = "p"): LinkKey => ({ providerId, userId: link });

/** Settles a promise on virtual time: runs the timeline until it has settled (at most `maxMs`). */
export async function settle<T>(w: World, p: Promise<T>, maxMs = 60_000): Promise<{ value: T; at: number }> {
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

export async function stopAll(w: World): Promise<void> {
  await Promise.all(w.engines.map((e) => settle(w, e.drain(), 120_000)));
}
