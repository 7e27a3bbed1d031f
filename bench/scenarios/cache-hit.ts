import { CpuMeter } from "../cpu-meter.js";
import { fmt } from "../format.js";
import { startBenchDaemon, type BenchDaemon } from "../daemon.js";
import { startEchoServer, type EchoServer } from "../echo.js";
import type { KeySpace, LoadJob, LoadResult } from "../protocol.js";
import { PROVIDER_ID, daemonProviderOf, startBenchProvider } from "../provider.js";
import { monotonicUs, summarizeProfile, type ProfileSummary } from "../profile-summary.js";
import type { ScenarioContext } from "./context.js";

/** broker: TokenService/ObtainAccessToken over gRPC; noop: the same daemon's Health/Check; bare: the echo server; connect: ObtainAccessToken over Connect. */
export type CacheTarget = "broker" | "noop" | "bare" | "connect";
export const CACHE_TARGETS: CacheTarget[] = ["broker", "noop", "bare", "connect"];

export interface CacheCell {
  target: CacheTarget;
  concurrency: number;
  callsPerSec: number;
  p50Ms: number;
  p99Ms: number;
  maxMs: number;
  calls: number;
  errors: number;
  errorSamples: string[];
  verified: boolean;
  /** CPU the serving process spent per call (µs): less noisy than throughput on a shared machine. */
  serverCpuUsPerCall: number;
  serverCores: number;
  loadgenCores: number;
  /** CPU every other process on the machine used meanwhile, in cores. */
  othersCores: number;
}

export interface CacheRatio {
  concurrency: number;
  /** Throughput broker / no-op RPC. */
  brokerVsNoop: number;
  /** Throughput broker / bare echo server. */
  brokerVsBare: number;
  /** p99 broker / no-op RPC. */
  p99VsNoop: number;
  /** Throughput Connect (HTTP/1.1) / gRPC, both ObtainAccessToken. */
  connectVsGrpc: number;
  /**
   * Server CPU per call, no-op / broker and bare / broker: the same ratios
   * measured on the serving process alone. Throughput ratios are diluted by
   * the load generator's CPU (identical for every target) whenever the
   * machine, not the server, is the bottleneck; these are not.
   */
  cpuNoopVsBroker: number;
  cpuBareVsBroker: number;
}

export interface CacheHitResult {
  links: number;
  cells: CacheCell[];
  ratios: CacheRatio[];
  providerRequests: number;
  daemonProblems: Record<string, number>;
  profile?: ProfileSummary;
}

/**
 * Scenario 1: cache hits. One daemon with `links` fresh links, a bare echo
 * server in its own process, and for each concurrency level the four targets
 * back to back (so drift in background load hits them alike).
 */
export async function runCacheHit(ctx: ScenarioContext): Promise<CacheHitResult> {
  const { opts, loadgen } = ctx;
  const fake = await startBenchProvider(0);
  let daemon: BenchDaemon | undefined;
  let echo: EchoServer | undefined;
  try {
    daemon = await startBenchDaemon({ cli: ctx.opts.cli, dir: ctx.dir, name: "cache", provider: daemonProviderOf(fake) });
    echo = await startEchoServer(ctx.dir);
    const keys: KeySpace = { providerId: PROVIDER_ID, userPrefix: "hit-", count: opts.cache.links };
    const seeded = await loadgen.run({
      kind: "import",
      address: daemon.grpcTarget,
      channels: opts.channels,
      concurrency: opts.importConcurrency,
      providerId: PROVIDER_ID,
      synthetic: { userPrefix: keys.userPrefix, from: 0, count: keys.count, expiresAtMs: Date.now() + 3_600_000 },
    });
    if (seeded.errors > 0) throw new Error(`seeding failed: ${seeded.samples.join("; ")}`);

    // Warm every server path (JIT) before the first measured cell.
    for (const target of CACHE_TARGETS) {
      await loadgen.run({
        kind: "load",
        transport: target === "connect" ? "connect" : "grpc",
        address: target === "bare" ? echo.grpcTarget : target === "connect" ? daemon.httpBaseUrl : daemon.grpcTarget,
        method: target === "noop" ? "health" : "obtain",
        ...(target === "connect" ? { callerToken: daemon.callerToken } : {}),
        keys,
        concurrency: 16,
        channels: opts.channels,
        warmupMs: 0,
        durationMs: 1000,
      });
    }
    const cells: CacheCell[] = [];
    for (const concurrency of opts.cache.concurrency) {
      for (const target of CACHE_TARGETS) {
        const job: LoadJob = {
          kind: "load",
          transport: target === "connect" ? "connect" : "grpc",
          address: target === "bare" ? echo.grpcTarget : target === "connect" ? daemon.httpBaseUrl : daemon.grpcTarget,
          method: target === "noop" ? "health" : "obtain",
          ...(target === "connect" ? { callerToken: daemon.callerToken } : {}),
          keys,
          concurrency,
          channels: opts.channels,
          warmupMs: opts.cache.warmupMs,
          durationMs: opts.cache.durationMs,
        };
        const serverPid = target === "bare" ? echo.pid : daemon.pid;
        const meter = new CpuMeter({ server: serverPid, loadgen: loadgen.pid });
        // Start the meter with the measured window (after warmup).
        const running = loadgen.run(job);
        await new Promise((r) => setTimeout(r, opts.cache.warmupMs));
        meter.start();
        const res = await running;
        const cpu = meter.stop();
        cells.push(cellOf(target, concurrency, res, cpu.cores.server ?? 0, cpu.cores.loadgen ?? 0, cpu.othersCores));
        const c = cells.at(-1)!;
        ctx.log(
          `  ${target.padEnd(7)} c=${String(concurrency).padStart(2)}: ${fmt(c.callsPerSec, 0)} calls/s  p50 ${fmt(c.p50Ms, 2)} ms  p99 ${fmt(c.p99Ms, 2)} ms` +
            `  server ${fmt(c.serverCpuUsPerCall, 0)} µs/call${c.errors > 0 ? `  ERRORS ${c.errors}` : ""}  (others ${fmt(c.othersCores, 2)} cores)`,
        );
      }
    }

    let profile: ProfileSummary | undefined;
    if (opts.profile) profile = await profileBroker(ctx, fake, keys);

    const ratios = opts.cache.concurrency.map((concurrency): CacheRatio => {
      const at = (t: CacheTarget): CacheCell => cells.find((c) => c.target === t && c.concurrency === concurrency)!;
      const broker = at("broker");
      return {
        concurrency,
        brokerVsNoop: broker.callsPerSec / at("noop").callsPerSec,
        brokerVsBare: broker.callsPerSec / at("bare").callsPerSec,
        p99VsNoop: broker.p99Ms / at("noop").p99Ms,
        connectVsGrpc: at("connect").callsPerSec / broker.callsPerSec,
        cpuNoopVsBroker: at("noop").serverCpuUsPerCall / broker.serverCpuUsPerCall,
        cpuBareVsBroker: at("bare").serverCpuUsPerCall / broker.serverCpuUsPerCall,
      };
    });
    return {
      links: keys.count,
      cells,
      ratios,
      providerRequests: fake.tokenRequests,
      daemonProblems: Object.fromEntries(daemon.problems),
      ...(profile !== undefined ? { profile } : {}),
    };
  } finally {
    await echo?.stop();
    await daemon?.stop();
    await fake.close();
  }
}

/** A separate daemon under --cpu-prof, loaded only with broker cache hits at the highest concurrency. */
async function profileBroker(ctx: ScenarioContext, fake: Awaited<ReturnType<typeof startBenchProvider>>, keys: KeySpace): Promise<ProfileSummary | undefined> {
  const { opts, loadgen } = ctx;
  const daemon = await startBenchDaemon({ cli: ctx.opts.cli, dir: ctx.dir, name: "cache-prof", provider: daemonProviderOf(fake), cpuProfDir: ctx.dir });
  let stopped: { code: number | null; profile?: string } | undefined;
  const window = { fromUs: 0, toUs: 0 };
  try {
    await loadgen.run({
      kind: "import",
      address: daemon.grpcTarget,
      channels: opts.channels,
      concurrency: opts.importConcurrency,
      providerId: PROVIDER_ID,
      synthetic: { userPrefix: keys.userPrefix, from: 0, count: keys.count, expiresAtMs: Date.now() + 3_600_000 },
    });
    const concurrency = Math.max(...opts.cache.concurrency);
    const running = loadgen.run({
      kind: "load",
      transport: "grpc",
      address: daemon.grpcTarget,
      method: "obtain",
      keys,
      concurrency,
      channels: opts.channels,
      warmupMs: opts.cache.warmupMs,
      durationMs: Math.max(opts.cache.durationMs, 3000),
    });
    await new Promise((r) => setTimeout(r, opts.cache.warmupMs));
    window.fromUs = monotonicUs();
    await running;
    window.toUs = monotonicUs();
  } finally {
    stopped = await daemon.stop();
  }
  if (stopped.profile === undefined) {
    ctx.log("  profile: the daemon wrote no .cpuprofile");
    return undefined;
  }
  // Only the measured window: not startup, seeding or warmup.
  const summary = summarizeProfile(stopped.profile, 25, window);
  ctx.log(`  profile written: ${stopped.profile}`);
  return summary;
}

function cellOf(target: CacheTarget, concurrency: number, r: LoadResult, serverCores: number, loadgenCores: number, othersCores: number): CacheCell {
  return {
    target,
    concurrency,
    callsPerSec: r.callsPerSec,
    p50Ms: r.latency.p50Ms,
    p99Ms: r.latency.p99Ms,
    maxMs: r.latency.maxMs,
    calls: r.calls,
    errors: r.errors,
    errorSamples: r.samples,
    verified: r.verified,
    serverCpuUsPerCall: r.callsPerSec > 0 ? (serverCores * 1e6) / r.callsPerSec : 0,
    serverCores,
    loadgenCores,
    othersCores,
  };
}
