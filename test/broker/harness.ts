/**
 * Shared set-up for the in-process refresh-engine suites: a real
 * SQLite store on a temp file sealed by a real AesSealer, a real fake
 * provider on loopback, a RefreshEngine built directly, and a pino logger
 * (the daemon's own createLogger, so its redaction config is the real one)
 * writing into memory. No function mocks anywhere. Every engine runs on the
 * harness's SkippableClock: real time unless a test skips ahead.
 *
 * Every token the fake hands out (seeded or refreshed) and every client
 * secret is remembered, and after each test the captured logs are checked to
 * contain none of them.
 */
import { randomBytes } from "node:crypto";
import { join } from "node:path";
import { Writable } from "node:stream";
import { setTimeout as sleep } from "node:timers/promises";
import Database from "better-sqlite3";
import { afterEach, expect } from "vitest";
import { RefreshEngine, type EngineOptions } from "../../src/broker/engine.js";
import type { ProviderConfig, RefreshSettings } from "../../src/config/config.js";
import { AesSealer, Keyring } from "../../src/crypto/index.js";
import { BrokerError, type Reason } from "../../src/errors/index.js";
import { createLogger, type Logger } from "../../src/log.js";
import { ProviderRegistry } from "../../src/providers/registry.js";
import type { LinkKey, LinkRecord } from "../../src/store/link-store.js";
import { openSqliteStore, type SqliteLinks, type SqliteStoreOptions } from "../../src/store/sqlite/index.js";
import type { FakeProvider, FakeProviderOptions, IssuedTokens, TokenRequestContext } from "../support/fake-provider.js";
import { useFakeProvider } from "../support/scoped-fakes.js";
import { tempDir } from "../support/temp-dir.js";
import { SkippableClock } from "./skippable-clock.js";

export const PROVIDER = "fake";

/** Short, fast settings for tests (the config's defaults are 10 s timeouts and budgets). */
export function testSettings(over: Partial<RefreshSettings> = {}): RefreshSettings {
  return {
    minValidForMs: 60_000,
    // Generous: the fake shares the test's event loop, and a timed-out request that the
    // provider did process is retried with a spent token (a replay) — a 2-core CI under
    // load must not turn that into a flaky failure.
    timeoutMs: 2000,
    initialBackoffMs: 20,
    maxBackoffMs: 200,
    budgetMs: 1500,
    providerConcurrency: 8,
    validate: false,
    misconfiguredBackoffMs: 200,
    leaseTtlMs: 15_000,
    // A written request is waited for as long as the timeout unless a test says otherwise;
    // an interrupted refresh fails at once (the daemon's window is docs/design.md §3 invariant 11's).
    answerTimeoutMs: over.timeoutMs ?? 2000,
    interruptedWindowMs: 0,
    ...over,
  };
}

/** A ProviderConfig built by hand, as config/load.ts would resolve it, pointing at the fake. */
export function providerConfig(fake: FakeProvider, over: Partial<ProviderConfig> = {}): ProviderConfig {
  return {
    id: PROVIDER,
    type: fake.mode === "github" ? "github" : "oauth2",
    displayName: "Fake provider",
    clientId: fake.clientId,
    clientSecret: fake.clientSecret,
    tokenUrl: fake.tokenUrl,
    validateUrl: fake.validateUrl,
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
    quirks: fake.mode === "github" ? "github" : "standard",
    ...over,
  };
}

/** An in-memory sink for pino. */
export class MemoryLog extends Writable {
  readonly chunks: string[] = [];
  override _write(chunk: Buffer | string, _enc: BufferEncoding, cb: (err?: Error | null) => void): void {
    this.chunks.push(typeof chunk === "string" ? chunk : chunk.toString("utf8"));
    cb();
  }
  get text(): string {
    return this.chunks.join("");
  }
  /** Parsed log lines. */
  lines(): Array<Record<string, unknown>> {
    return this.text
      .split("\n")
      .filter((l) => l.trim() !== "")
      .map((l) => JSON.parse(l) as Record<string, unknown>);
  }
}

export interface Harness {
  dir: string;
  dbPath: string;
  sealer: AesSealer;
  store: SqliteLinks;
  fake: FakeProvider;
  provider: ProviderConfig;
  /** `engine`'s registry (its gate for `provider`); every other engine has its own, as another process would. */
  providers: ProviderRegistry;
  /** A registry of these provider configs, built like the daemon's. */
  registry(configs: ProviderConfig[]): ProviderRegistry;
  engine: RefreshEngine;
  /** Every engine this harness built (drained after the test). */
  engines: RefreshEngine[];
  log: Logger;
  logs: MemoryLog;
  /** Every token value and client secret seen in this test; none may reach a log. */
  secrets: Set<string>;
  /** Tokens the fake issued through refreshes, in order. */
  issued: IssuedTokens[];
  /** Runs (after recording) inside the fake's beforeRespond. */
  onRespond: ((ctx: TokenRequestContext) => Promise<void>) | undefined;
  /** Another engine (another "process"): its own store connection on the same file, so a distinct lease owner. */
  secondEngine(over?: Partial<EngineOptions>): RefreshEngine;
  /** A new engine sharing this harness's store, fake and log. */
  newEngine(over?: Partial<EngineOptions>): RefreshEngine;
  /** Seeds a link with a fresh token family from the fake. */
  seed(key: LinkKey, opts?: { accessTtlSec?: number }): Promise<{ record: LinkRecord; tokens: IssuedTokens }>;
  /** A raw better-sqlite3 connection on the db file (inspection only). */
  raw(): Database.Database;
  /** The clock of every engine this harness builds (unless a test gives one its own). */
  clock: SkippableClock;
  /** Settles `work`, skipping the engines' waits (up to `maxSkipMs` each) whenever no request is at the fake provider. */
  skipWaits<T>(work: Promise<T>, maxSkipMs?: number): Promise<T>;
}

export interface HarnessOptions {
  fake?: FakeProviderOptions;
  settings?: Partial<RefreshSettings>;
  provider?: Partial<ProviderConfig>;
  engine?: Partial<EngineOptions>;
  /** Options of every store connection (e.g. a short busy budget). */
  store?: Omit<SqliteStoreOptions, "path" | "sealer">;
}

const cleanups: Array<() => Promise<void> | void> = [];
const harnesses: Harness[] = [];

afterEach(async () => {
  const hs = harnesses.splice(0);
  try {
    // Let refreshes still in flight commit before stores and the fake close.
    await Promise.all(hs.flatMap((h) => h.engines.map((e) => e.drain())));
    for (const h of hs) {
      // Invariant-wide checks that hold after every test in this directory.
      assertNoSecretsIn(h.logs.text, h.secrets, "logs");
    }
  } finally {
    for (const c of cleanups.splice(0).reverse()) await c();
  }
});

export async function harness(opts: HarnessOptions = {}): Promise<Harness> {
  // Removed, and the fake closed, once the test has finished: after the stores close.
  const dir = tempDir("tb-broker-");
  const dbPath = join(dir, "links.db");
  const sealer = new AesSealer(new Keyring([randomBytes(32)]));
  // One clock for the engines and the store (whose clock judges leases: docs/design.md §3 invariant 13),
  // so a test that skips time skips it for both.
  const clock = new SkippableClock();
  const opened = openSqliteStore({ ...opts.store, path: dbPath, sealer, clock });
  cleanups.push(() => opened.close());
  const store = opened.links;
  const fake = await useFakeProvider(opts.fake);
  const provider = providerConfig(fake, opts.provider);
  const logs = new MemoryLog();
  const log = createLogger("trace", logs);
  const settings = testSettings(opts.settings);
  const engines: RefreshEngine[] = [];
  // Doubling from 200 ms capped at 400 ms, so breaker tests wait little.
  const registry = (configs: ProviderConfig[]): ProviderRegistry =>
    new ProviderRegistry(configs, { publicUrl: "http://127.0.0.1:9", refresh: settings, misconfiguredMaxBackoffMs: 400 });

  const secrets = new Set<string>([fake.clientSecret, provider.clientSecret]);
  const issued: IssuedTokens[] = [];

  const makeEngine = (s: SqliteLinks, over: Partial<EngineOptions> = {}): RefreshEngine => {
    const e = new RefreshEngine({
      store: s,
      providers: registry([provider]),
      settings,
      log,
      clock,
      ...opts.engine,
      ...over,
    });
    engines.push(e);
    return e;
  };

  const h: Harness = {
    dir,
    dbPath,
    sealer,
    store,
    fake,
    provider,
    providers: undefined as unknown as ProviderRegistry,
    registry,
    engine: undefined as unknown as RefreshEngine,
    engines,
    log,
    logs,
    secrets,
    issued,
    onRespond: undefined,
    secondEngine(over) {
      const other = openSqliteStore({ ...opts.store, path: dbPath, sealer, clock });
      cleanups.push(() => other.close());
      return makeEngine(other.links, over);
    },
    newEngine(over) {
      return makeEngine(store, over);
    },
    async seed(key, o = {}) {
      const tokens = fake.issue({ accessTtlSec: o.accessTtlSec ?? 5 });
      secrets.add(tokens.accessToken);
      secrets.add(tokens.refreshToken);
      const record = await store.put(
        key,
        { accessToken: tokens.accessToken, tokenType: "bearer", refreshToken: tokens.refreshToken, expiresAt: tokens.expiresAt, extra: {} },
        clock.now(),
      );
      return { record, tokens };
    },
    raw() {
      const db = new Database(dbPath, { readonly: true, timeout: 5000 });
      cleanups.push(() => {
        db.close();
      });
      return db;
    },
    clock,
    skipWaits: (work, maxSkipMs) => clock.skipWaits(work, () => fake.inFlight > 0, maxSkipMs),
  };
  h.providers = registry([provider]);
  h.engine = makeEngine(store, { providers: h.providers });
  fake.beforeRespond = async (ctx) => {
    if (ctx.issued) {
      issued.push(ctx.issued);
      secrets.add(ctx.issued.accessToken);
      secrets.add(ctx.issued.refreshToken);
    }
    if (ctx.presentedRefreshToken !== undefined) secrets.add(ctx.presentedRefreshToken);
    await h.onRespond?.(ctx);
  };
  harnesses.push(h);
  return h;
}

export function assertNoSecretsIn(text: string, secrets: Iterable<string>, where: string): void {
  for (const s of secrets) {
    if (s.length < 4) continue;
    if (text.includes(s)) throw new Error(`a secret value (${s.slice(0, 7)}…) appears in ${where}`);
  }
}

/** Awaits a rejection and returns the BrokerError (fails the test on anything else). */
export async function brokerError(p: Promise<unknown>, reason?: Reason): Promise<BrokerError> {
  const err: unknown = await p.then(
    (v) => {
      throw new Error(`expected a BrokerError${reason ? ` ${reason}` : ""}, got a value: ${JSON.stringify(Object.keys(v as object))}`);
    },
    (e: unknown) => e,
  );
  if (!(err instanceof BrokerError)) throw err;
  if (reason !== undefined) expect(err.reason, `${err.reason}: ${err.message} ${JSON.stringify(err.detail)}`).toBe(reason);
  return err;
}

export async function rejection(p: Promise<unknown>): Promise<unknown> {
  return p.then(
    () => {
      throw new Error("expected a rejection");
    },
    (e: unknown) => e,
  );
}

/** The stored record, which must exist. */
export async function stored(h: Harness, key: LinkKey): Promise<LinkRecord> {
  const rec = await h.store.get(key);
  if (rec === undefined) throw new Error(`no link ${key.providerId}/${key.userId}`);
  return rec;
}

/** A resolvable gate for beforeRespond hooks. */
export function deferred<T = void>(): { promise: Promise<T>; resolve: (v: T) => void } {
  let resolve!: (v: T) => void;
  const promise = new Promise<T>((r) => {
    resolve = r;
  });
  return { promise, resolve };
}

export async function until(cond: () => boolean, what: string, timeoutMs = 10_000): Promise<void> {
  const end = Date.now() + timeoutMs;
  while (!cond()) {
    if (Date.now() > end) throw new Error(`timed out waiting for ${what}`);
    await sleep(5);
  }
}

export const key = (userId: string, providerId = PROVIDER): LinkKey => ({ providerId, userId });
