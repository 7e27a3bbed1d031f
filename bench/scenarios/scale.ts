import { statSync } from "node:fs";
import { join } from "node:path";
import { CpuMeter } from "../cpu-meter.js";
import { startBenchDaemon, storePathOf, writeKeysFile, type BenchDaemon } from "../daemon.js";
import { seedStoreDirect } from "../seed-store.js";
import { monotonicUs, summarizeProfile, type ProfileSummary, type Window } from "../profile-summary.js";
import { fmt } from "../format.js";
import { readLockGauge, type LockGauge } from "../lock-gauge.js";
import type { KeySpace, LoadResult } from "../protocol.js";
import { PROVIDER_ID, daemonProviderOf, startBenchProvider } from "../provider.js";
import { median } from "../stats.js";
import { memoryOf, type Memory } from "../proc.js";
import { startEchoServer, type EchoServer } from "../echo.js";
import type { ScenarioContext } from "./context.js";
import { closeAll, openChannels, unaryRaw, waitReady } from "../loadgen/channels.js";
import { PATHS, obtainRequests } from "../loadgen/requests.js";

export interface ScaleRun {
  store: "small" | "large";
  round: number;
  callsPerSec: number;
  p50Ms: number;
  p99Ms: number;
  errors: number;
  daemonCpuUsPerCall: number;
  othersCores: number;
}

export interface ScaleResult {
  largeLinks: number;
  smallLinks: number;
  concurrency: number;
  /** Seeding the large store: most links in batches (putMany) before the daemon starts... */
  seedBatchLinks: number;
  seedBatchMs: number;
  seedBatchPerSec: number;
  /** ...the rest through ImportLink into the running daemon, on top of them. */
  seedImportLinks: number;
  seedImportMs: number;
  seedImportPerSec: number;
  seedErrors: number;
  /** Spawn to "serving" of the daemon on the big store (keyring check reads every sealed value). */
  largeStartupMs: number;
  smallStartupMs: number;
  dbFileMb: number;
  runs: ScaleRun[];
  /** Medians over the rounds. */
  smallP99Ms: number;
  largeP99Ms: number;
  /** large / small p99 (target ≤ 1.10). */
  p99Ratio: number;
  smallCallsPerSec: number;
  largeCallsPerSec: number;
  /** Daemon CPU per call (medians): the store-size effect without the scheduling noise in p99. */
  smallCpuUsPerCall: number;
  largeCpuUsPerCall: number;
  /** RSS right after start (store opened, nothing served yet). */
  largeMemoryAtStart: Memory | undefined;
  smallMemoryAtStart: Memory | undefined;
  largeMemoryAfterSeed: Memory | undefined;
  /** After one read of every link: the record cache holds them all (the load alone reaches about half). */
  largeMemoryAfterFill: Memory | undefined;
  largeMemoryAfterLoad: Memory | undefined;
  /**
   * An empty daemon started with the scenario and left alone to its end: its
   * RSS once V8's memory reducer has run (it shrinks the heap after some
   * seconds without allocation). The "at start" figure is taken 0 s in.
   */
  idleMemoryAfter: Memory | undefined;
  idleForMs: number;
  /**
   * The big daemon again after `settledForMs` without calls: whether V8 gives
   * back the old generation the load grew. Measured: it does not (the same
   * RSS; no collection ran in those seconds).
   */
  largeMemorySettled: Memory | undefined;
  settledForMs: number;
  /**
   * The floor: the bare grpc-js echo server (echo.ts) before and after the
   * same 64-caller load, as long as one daemon's warm-up and rounds. What
   * Node, grpc-js and the load cost in RSS before any link is kept.
   */
  bareMemoryAtStart: Memory | undefined;
  bareMemoryAfterLoad: Memory | undefined;
  /** The record cache's bound both daemons ran with (store.sqlite.cache_entries). */
  cacheEntries: number;
  smallMemoryAfterLoad: Memory | undefined;
  lockMapAfter: LockGauge;
  daemonProblems: Record<string, number>;
  /** With --profile: each daemon over its measured rounds. */
  profiles?: { small?: ProfileSummary; large?: ProfileSummary };
}

/** How long the big daemon is left without calls before its settled RSS is read. */
const SETTLE_MS = 15_000;

/**
 * Scenario 4: scale. Two daemons side by side, one with 100 links and one
 * with `links` (most seeded in batches before it starts, the rest through
 * ImportLink; both timed). Cache-hit load on
 * random keys across each store, in ABBA order over the rounds so drifting
 * background load hits both alike; the medians are compared.
 */
export async function runScale(ctx: ScenarioContext): Promise<ScaleResult> {
  const { opts, loadgen } = ctx;
  const s = opts.scale;
  const fake = await startBenchProvider(0);
  let small: BenchDaemon | undefined;
  let large: BenchDaemon | undefined;
  let idle: BenchDaemon | undefined;
  let echo: EchoServer | undefined;
  let result: ScaleResult;
  const windows: Record<"small" | "large", Window[]> = { small: [], large: [] };
  const stopped: Record<"small" | "large", { code: number | null; profile?: string } | undefined> = { small: undefined, large: undefined };
  const profDir = opts.profile ? ctx.dir : undefined;
  try {
    const expiresAtMs = Date.now() + 6 * 3_600_000;
    const smallKeys: KeySpace = { providerId: PROVIDER_ID, userPrefix: "user-", count: s.baseLinks };
    const largeKeys: KeySpace = { providerId: PROVIDER_ID, userPrefix: "user-", count: s.links };
    const viaImport = Math.min(s.viaImportLink, s.links);
    ctx.log(`  seeding ${s.links - viaImport} links in batches (SqliteLinks.putMany) ...`);
    const batch = await seedStoreDirect({
      dbPath: storePathOf(ctx.dir, "large"),
      keysFile: writeKeysFile(ctx.dir),
      providerId: PROVIDER_ID,
      userPrefix: largeKeys.userPrefix,
      count: s.links - viaImport,
      expiresAtMs,
    });
    ctx.log(`  seeded ${batch.links} links in ${fmt(batch.ms / 1000, 1)} s (${fmt(batch.perSec, 0)}/s)`);
    // The record cache on and holding every link (issue 24: memory with the
    // cache on, compact entries rather than a smaller cache); the same bound
    // for both stores, so only the store size differs.
    const cacheEntries = Math.max(s.links, s.baseLinks);
    idle = await startBenchDaemon({ cli: ctx.opts.cli, dir: ctx.dir, name: "idle", provider: daemonProviderOf(fake) });
    const idleSince = performance.now();
    small = await startBenchDaemon({ cli: ctx.opts.cli, dir: ctx.dir, name: "small", provider: daemonProviderOf(fake), cpuProfDir: profDir, cacheEntries });
    large = await startBenchDaemon({ cli: ctx.opts.cli, dir: ctx.dir, name: "large", provider: daemonProviderOf(fake), cpuProfDir: profDir, cacheEntries });
    const largeMemoryAtStart = large.memory();
    const smallMemoryAtStart = small.memory();
    ctx.log(`  daemon start: ${fmt(large.startupMs, 0)} ms with ${batch.links} links, ${fmt(small.startupMs, 0)} ms empty`);
    const seedSmall = await loadgen.run({
      kind: "import",
      address: small.grpcTarget,
      channels: opts.channels,
      concurrency: opts.importConcurrency,
      providerId: PROVIDER_ID,
      synthetic: { userPrefix: smallKeys.userPrefix, from: 0, count: smallKeys.count, expiresAtMs },
    });
    if (seedSmall.errors > 0) throw new Error(`seeding the small store failed: ${seedSmall.samples.join("; ")}`);
    const seed = await loadgen.run({
      kind: "import",
      address: large.grpcTarget,
      channels: opts.channels,
      concurrency: opts.importConcurrency,
      providerId: PROVIDER_ID,
      synthetic: { userPrefix: largeKeys.userPrefix, from: s.links - viaImport, count: viaImport, expiresAtMs },
    });
    ctx.log(`  imported ${seed.imported} more through ImportLink (${opts.importConcurrency} in flight) in ${fmt(seed.wallMs / 1000, 1)} s (${fmt(seed.perSec, 0)}/s), ${seed.errors} errors`);
    const largeMemoryAfterSeed = large.memory();
    ctx.log(`  reading every link of the large store once, so its record cache holds them all ...`);
    const fill = await readEveryLink(large.grpcTarget, largeKeys, opts.channels);
    ctx.log(`  read ${fill.calls} links in ${fmt(fill.ms / 1000, 1)} s, ${fill.errors} errors`);
    if (fill.errors > 0) throw new Error(`reading every link failed: ${fill.errors} errors`);
    const largeMemoryAfterFill = large.memory();
    ctx.log(`  large daemon RSS after the fill: ${fmt(largeMemoryAfterFill?.rssMb, 0)} MB (peak ${fmt(largeMemoryAfterFill?.hwmMb, 0)} MB)`);

    // The floor, loaded before the daemons so it runs on the same quiet machine.
    echo = await startEchoServer(ctx.dir);
    const bareMemoryAtStart = memoryOf(echo.pid);
    await loadgen.run({ kind: "load", transport: "grpc", address: echo.grpcTarget, method: "obtain", keys: smallKeys, concurrency: s.concurrency, channels: opts.channels, warmupMs: 0, durationMs: 1500 + s.rounds * (s.warmupMs + s.durationMs) });
    const bareMemoryAfterLoad = memoryOf(echo.pid);
    await echo.stop();
    echo = undefined;
    ctx.log(`  bare grpc-js server RSS: ${fmt(bareMemoryAtStart?.rssMb, 0)} MB at start, ${fmt(bareMemoryAfterLoad?.rssMb, 0)} MB after the same load`);

    const runs: ScaleRun[] = [];
    // Warm both daemons (JIT, SQLite page cache) before any measured round.
    for (const [daemon, keys] of [
      [small, smallKeys],
      [large, largeKeys],
    ] as const) {
      await loadgen.run({ kind: "load", transport: "grpc", address: daemon.grpcTarget, method: "obtain", keys, concurrency: s.concurrency, channels: opts.channels, warmupMs: 0, durationMs: 1500 });
    }
    const pair = [
      ["small", small, smallKeys],
      ["large", large, largeKeys],
    ] as const;
    for (let round = 1; round <= s.rounds; round++) {
      // small, large, then large, small, ...: drift in background load hits both alike.
      for (const [store, daemon, keys] of round % 2 === 1 ? pair : [...pair].reverse()) {
        const meter = new CpuMeter({ daemon: daemon.pid });
        const running = loadgen.run({
          kind: "load",
          transport: "grpc",
          address: daemon.grpcTarget,
          method: "obtain",
          keys,
          concurrency: s.concurrency,
          channels: opts.channels,
          warmupMs: s.warmupMs,
          durationMs: s.durationMs,
        });
        await new Promise((r) => setTimeout(r, s.warmupMs));
        meter.start();
        const fromUs = monotonicUs();
        const r: LoadResult = await running;
        const cpu = meter.stop();
        windows[store].push({ fromUs, toUs: monotonicUs() });
        const run: ScaleRun = {
          store,
          round,
          callsPerSec: r.callsPerSec,
          p50Ms: r.latency.p50Ms,
          p99Ms: r.latency.p99Ms,
          errors: r.errors,
          daemonCpuUsPerCall: r.callsPerSec > 0 ? ((cpu.cores.daemon ?? 0) * 1e6) / r.callsPerSec : 0,
          othersCores: cpu.othersCores,
        };
        runs.push(run);
        ctx.log(
          `  ${store.padEnd(5)} (${String(keys.count).padStart(6)} links) round ${round}: ${fmt(run.callsPerSec, 0)} calls/s, p50 ${fmt(run.p50Ms, 2)} ms, ` +
            `p99 ${fmt(run.p99Ms, 2)} ms, ${fmt(run.daemonCpuUsPerCall, 0)} µs/call${run.errors > 0 ? `, ERRORS ${run.errors}` : ""} (others ${fmt(run.othersCores, 2)} cores)`,
        );
      }
    }
    const med = (store: "small" | "large", f: (r: ScaleRun) => number): number => median(runs.filter((r) => r.store === store).map(f));
    const smallP99Ms = med("small", (r) => r.p99Ms);
    const largeP99Ms = med("large", (r) => r.p99Ms);
    let dbFileMb = 0;
    for (const suffix of ["", "-wal"]) {
      try {
        dbFileMb += statSync(join(ctx.dir, `large.db${suffix}`)).size / 2 ** 20;
      } catch {
        // no WAL file
      }
    }
    const largeMemoryAfterLoad = large.memory();
    const smallMemoryAfterLoad = small.memory();
    const loadEnded = performance.now();
    await new Promise((r) => setTimeout(r, SETTLE_MS));
    const largeMemorySettled = large.memory();
    const settledForMs = performance.now() - loadEnded;
    ctx.log(`  large daemon RSS ${fmt(largeMemoryAfterLoad?.rssMb, 0)} MB after the load, ${fmt(largeMemorySettled?.rssMb, 0)} MB ${fmt(settledForMs / 1000, 0)} s later`);
    result = {
      largeLinks: s.links,
      smallLinks: s.baseLinks,
      concurrency: s.concurrency,
      seedBatchLinks: batch.links,
      seedBatchMs: batch.ms,
      seedBatchPerSec: batch.perSec,
      seedImportLinks: viaImport,
      seedImportMs: seed.wallMs,
      seedImportPerSec: seed.perSec,
      seedErrors: seed.errors + seedSmall.errors,
      largeStartupMs: large.startupMs,
      smallStartupMs: small.startupMs,
      dbFileMb,
      runs,
      smallP99Ms,
      largeP99Ms,
      p99Ratio: largeP99Ms / smallP99Ms,
      smallCallsPerSec: med("small", (r) => r.callsPerSec),
      largeCallsPerSec: med("large", (r) => r.callsPerSec),
      smallCpuUsPerCall: med("small", (r) => r.daemonCpuUsPerCall),
      largeCpuUsPerCall: med("large", (r) => r.daemonCpuUsPerCall),
      largeMemoryAtStart,
      smallMemoryAtStart,
      largeMemoryAfterSeed,
      largeMemoryAfterFill,
      largeMemoryAfterLoad,
      largeMemorySettled,
      settledForMs,
      cacheEntries,
      smallMemoryAfterLoad,
      idleMemoryAfter: idle.memory(),
      idleForMs: performance.now() - idleSince,
      bareMemoryAtStart,
      bareMemoryAfterLoad,
      lockMapAfter: await readLockGauge(large.httpBaseUrl),
      daemonProblems: Object.fromEntries(large.problems),
    };
  } finally {
    await echo?.stop();
    await idle?.stop();
    stopped.small = await small?.stop();
    stopped.large = await large?.stop();
    await fake.close();
  }
  if (opts.profile) {
    result.profiles = {};
    for (const store of ["small", "large"] as const) {
      const file = stopped[store]?.profile;
      if (file === undefined) continue;
      ctx.log(`  profile written: ${file}`);
      result.profiles[store] = summarizeProfile(file, 25, windows[store]);
    }
  }
  return result;
}

/**
 * One ObtainAccessToken for each key, in key order, a bounded number in
 * flight: the measured load picks keys at random and would leave about half
 * of 100,000 links uncached, while the memory target is for a cache holding
 * every link. Not timed as a result.
 */
async function readEveryLink(target: string, keys: KeySpace, channels: number): Promise<{ calls: number; errors: number; ms: number }> {
  const clients = openChannels(target, channels);
  const t0 = performance.now();
  let next = 0;
  let errors = 0;
  try {
    await waitReady(clients);
    const requests = obtainRequests(keys);
    const worker = async (w: number): Promise<void> => {
      for (let i = next++; i < requests.length; i = next++) {
        await unaryRaw(clients[w % clients.length]!, PATHS.obtain, requests[i]!, 30_000).catch(() => errors++);
      }
    };
    await Promise.all(Array.from({ length: 64 }, (_, w) => worker(w)));
    return { calls: requests.length, errors, ms: performance.now() - t0 };
  } finally {
    closeAll(clients);
  }
}
