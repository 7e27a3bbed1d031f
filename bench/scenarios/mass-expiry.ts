import { CpuMeter } from "../cpu-meter.js";
import { startBenchDaemon, type BenchDaemon } from "../daemon.js";
import { fmt } from "../format.js";
import { readLockGauge, type LockGauge } from "../lock-gauge.js";
import type { ImportLinkInit } from "../protocol.js";
import { PROVIDER_ID, daemonProviderOf, startBenchProvider } from "../provider.js";
import { monotonicUs, summarizeProfile, type ProfileSummary } from "../profile-summary.js";
import type { ScenarioContext } from "./context.js";
import { warmRefreshPath } from "./warm-refresh.js";

export interface MassExpiryResult {
  keys: number;
  providerLatencyMs: number;
  /** refresh.provider_concurrency. */
  limit: number;
  /** keys × latency / limit. */
  idealMs: number;
  wallMs: number;
  /** wall / ideal (target ≤ 1.2). */
  vsIdeal: number;
  /** Concurrent token requests the provider saw at most (target ≤ limit). */
  peakProviderConcurrency: number;
  providerRefreshes: number;
  providerTokenRequests: number;
  providerReplays: number;
  errors: number;
  errorsByCode: Record<string, number>;
  errorSamples: string[];
  staleAnswers: number;
  callerP50Ms: number;
  callerP99Ms: number;
  /** CPU during the burst, in cores: the daemon, and every other process on the machine. */
  daemonCores: number;
  othersCores: number;
  seedMs: number;
  seedPerSec: number;
  lockMapAfter: LockGauge;
  daemonProblems: Record<string, number>;
  /** With --profile: where the daemon's CPU went during the burst. */
  profile?: ProfileSummary;
}

/**
 * Scenario 3: mass expiry. `keys` links whose tokens need a refresh, one
 * caller each, all at once; the provider answers in 50 ms and the daemon may
 * send it at most `limit` requests at a time.
 */
export async function runMassExpiry(ctx: ScenarioContext): Promise<MassExpiryResult> {
  const { opts, loadgen } = ctx;
  const { keys, latencyMs, limit } = opts.mass;
  const fake = await startBenchProvider(latencyMs);
  let daemon: BenchDaemon | undefined;
  let result: MassExpiryResult;
  let stopped: { code: number | null; profile?: string } | undefined;
  const window = { fromUs: 0, toUs: 0 };
  try {
    daemon = await startBenchDaemon({
      cli: ctx.opts.cli,
      dir: ctx.dir,
      name: "mass",
      provider: daemonProviderOf(fake),
      providerConcurrency: limit,
      cpuProfDir: opts.profile ? ctx.dir : undefined,
    });
    // Access tokens with 20 s left: below the 60 s min_valid_for, so every call needs a refresh.
    const links: ImportLinkInit[] = Array.from({ length: keys }, (_, i) => {
      const t = fake.issue({ accessTtlSec: 20 });
      return { userId: `mass-${i}`, accessToken: t.accessToken, refreshToken: t.refreshToken, expiresAtMs: t.expiresAt };
    });
    const seeded = await loadgen.run({ kind: "import", address: daemon.grpcTarget, channels: opts.channels, concurrency: opts.importConcurrency, providerId: PROVIDER_ID, links });
    if (seeded.errors > 0) throw new Error(`seeding failed: ${seeded.samples.join("; ")}`);
    ctx.log(`  seeded ${seeded.imported} links in ${fmt(seeded.wallMs / 1000, 1)} s (${fmt(seeded.perSec, 0)}/s)`);

    await warmRefreshPath(ctx, daemon, fake);
    fake.peakInFlight = 0;
    const before = { refreshes: fake.refreshes, requests: fake.tokenRequests, replays: fake.replays };
    const idealMs = (keys * latencyMs) / limit;
    const meter = new CpuMeter({ daemon: daemon.pid, loadgen: loadgen.pid }).start();
    window.fromUs = monotonicUs();
    const burst = await loadgen.run({
      kind: "burst",
      address: daemon.grpcTarget,
      channels: opts.channels,
      keys: { providerId: PROVIDER_ID, userPrefix: "mass-", count: keys },
      callsPerKey: 1,
      deadlineMs: Math.round(idealMs * 3 + 30_000),
      minValidMs: 60_000,
    });
    const cpu = meter.stop();
    window.toUs = monotonicUs();
    result = {
      keys,
      providerLatencyMs: latencyMs,
      limit,
      idealMs,
      wallMs: burst.wallMs,
      vsIdeal: burst.wallMs / idealMs,
      peakProviderConcurrency: fake.peakInFlight,
      providerRefreshes: fake.refreshes - before.refreshes,
      providerTokenRequests: fake.tokenRequests - before.requests,
      providerReplays: fake.replays - before.replays,
      errors: burst.errors,
      errorsByCode: burst.byCode,
      errorSamples: burst.samples,
      staleAnswers: burst.staleAnswers,
      callerP50Ms: burst.latency.p50Ms,
      callerP99Ms: burst.latency.p99Ms,
      daemonCores: cpu.cores.daemon ?? 0,
      othersCores: cpu.othersCores,
      seedMs: seeded.wallMs,
      seedPerSec: seeded.perSec,
      lockMapAfter: await readLockGauge(daemon.httpBaseUrl),
      daemonProblems: Object.fromEntries(daemon.problems),
    };
    ctx.log(
      `  ${keys} keys: ${fmt(result.wallMs / 1000, 2)} s (ideal ${fmt(idealMs / 1000, 2)} s, ×${fmt(result.vsIdeal, 3)}), ` +
        `peak provider concurrency ${result.peakProviderConcurrency}/${limit}, ${result.providerRefreshes} refreshes, ${result.errors} errors`,
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
