import { startBenchDaemon, type BenchDaemon } from "../daemon.js";
import { startEchoServer } from "../echo.js";
import { fmt } from "../format.js";
import { readLockGauge, type LockGauge } from "../lock-gauge.js";
import { PROVIDER_ID, daemonProviderOf, startBenchProvider } from "../provider.js";
import { monotonicUs, summarizeProfile, type ProfileSummary } from "../profile-summary.js";
import type { ScenarioContext } from "./context.js";
import { importOneLink, warmRefreshPath } from "./warm-refresh.js";

export interface StormResult {
  callers: number;
  providerLatencyMs: number;
  /** Successful refreshes at the provider during the storm (target: exactly 1). */
  providerRefreshes: number;
  providerTokenRequests: number;
  /** Spent refresh tokens presented again (a double refresh); must be 0. */
  providerReplays: number;
  errors: number;
  errorSamples: string[];
  /** The first caller's answer (all callers start together). */
  minMs: number;
  p50Ms: number;
  p99Ms: number;
  maxMs: number;
  wallMs: number;
  /**
   * The same burst against the bare grpc-js echo server (no broker work, no
   * provider): what 1,000 simultaneous calls from one grpc-js client process
   * cost by themselves on this machine. The floor under the storm's figures.
   */
  floor: { firstMs: number; p50Ms: number; p99Ms: number; errors: number };
  /** Distinct access tokens the callers received (1 when they all shared the refresh). */
  distinctTokens: number;
  staleAnswers: number;
  lockMapAfter: LockGauge;
  daemonProblems: Record<string, number>;
  /** With --profile: where the daemon's CPU went during the storm. */
  profile?: ProfileSummary;
}

/**
 * Scenario 2: refresh storm. 1,000 callers at once on one link whose token
 * needs a refresh (30 s left, below the 60 s default min_valid_for), the
 * provider answering in 200 ms.
 */
export async function runStorm(ctx: ScenarioContext): Promise<StormResult> {
  const { opts, loadgen } = ctx;
  const fake = await startBenchProvider(opts.storm.latencyMs);
  let daemon: BenchDaemon | undefined;
  let result: StormResult;
  let stopped: { code: number | null; profile?: string } | undefined;
  const window = { fromUs: 0, toUs: 0 };
  try {
    daemon = await startBenchDaemon({ cli: ctx.opts.cli, dir: ctx.dir, name: "storm", provider: daemonProviderOf(fake), cpuProfDir: opts.profile ? ctx.dir : undefined });
    const floor = await echoFloor(ctx);
    ctx.log(`  transport floor (same burst, bare echo server): first ${fmt(floor.firstMs, 1)} ms, p50 ${fmt(floor.p50Ms, 1)} ms, p99 ${fmt(floor.p99Ms, 1)} ms`);
    await warmRefreshPath(ctx, daemon, fake);
    const seed = await importOneLink(ctx, daemon, fake, "storm-0", 30);
    const before = { refreshes: fake.refreshes, requests: fake.tokenRequests, replays: fake.replays };
    window.fromUs = monotonicUs();
    const burst = await loadgen.run({
      kind: "burst",
      address: daemon.grpcTarget,
      channels: opts.channels,
      keys: { providerId: PROVIDER_ID, userPrefix: "storm-", count: 1 },
      callsPerKey: opts.storm.callers,
      deadlineMs: 30_000,
      minValidMs: 60_000,
    });
    window.toUs = monotonicUs();
    result = {
      callers: opts.storm.callers,
      providerLatencyMs: opts.storm.latencyMs,
      providerRefreshes: fake.refreshes - before.refreshes,
      providerTokenRequests: fake.tokenRequests - before.requests,
      providerReplays: fake.replays - before.replays,
      errors: burst.errors,
      errorSamples: burst.samples,
      minMs: burst.latency.minMs,
      p50Ms: burst.latency.p50Ms,
      p99Ms: burst.latency.p99Ms,
      maxMs: burst.latency.maxMs,
      wallMs: burst.wallMs,
      floor,
      distinctTokens: burst.maxDistinctTokensPerKey,
      staleAnswers: burst.staleAnswers,
      lockMapAfter: await readLockGauge(daemon.httpBaseUrl),
      daemonProblems: Object.fromEntries(daemon.problems),
    };
    ctx.log(
      `  ${result.callers} callers: ${result.providerRefreshes} refresh(es), first answer ${fmt(result.minMs, 1)} ms, p50 ${fmt(result.p50Ms, 1)} ms, p99 ${fmt(result.p99Ms, 1)} ms, ` +
        `max ${fmt(result.maxMs, 1)} ms, ${result.errors} errors, ${result.distinctTokens} distinct token(s)`,
    );
  } finally {
    stopped = await daemon?.stop();
    await fake.close();
  }
  if (stopped?.profile !== undefined) {
    ctx.log(`  profile written: ${stopped.profile}`);
    result.profile = summarizeProfile(stopped.profile, 25, window);
  }
  return result;
}

async function echoFloor(ctx: ScenarioContext): Promise<StormResult["floor"]> {
  const echo = await startEchoServer(ctx.dir);
  try {
    // Warm the echo server's call path, as the daemon's is (warmRefreshPath).
    await ctx.loadgen.run({
      kind: "load",
      transport: "grpc",
      address: echo.grpcTarget,
      method: "obtain",
      keys: { providerId: PROVIDER_ID, userPrefix: "storm-", count: 1 },
      concurrency: 16,
      channels: ctx.opts.channels,
      warmupMs: 0,
      durationMs: 1000,
    });
    const r = await ctx.loadgen.run({
      kind: "burst",
      address: echo.grpcTarget,
      channels: ctx.opts.channels,
      keys: { providerId: PROVIDER_ID, userPrefix: "storm-", count: 1 },
      callsPerKey: ctx.opts.storm.callers,
      deadlineMs: 30_000,
      minValidMs: 0,
    });
    return { firstMs: r.latency.minMs, p50Ms: r.latency.p50Ms, p99Ms: r.latency.p99Ms, errors: r.errors };
  } finally {
    await echo.stop();
  }
}
