import { writeFileSync } from "node:fs";
import { join } from "node:path";
import { startBenchDaemon, type BenchDaemon } from "../daemon.js";
import { fmt } from "../format.js";
import { startBenchPostgres } from "../postgres.js";
import { PROVIDER_ID, daemonProviderOf, startBenchProvider, type FakeProvider } from "../provider.js";
import type { LatencySummary } from "../protocol.js";
import type { ScenarioContext } from "./context.js";
import { warmRefreshPath } from "./warm-refresh.js";

export interface FleetResult {
  daemons: number;
  links: number;
  cache: {
    /** Callers per daemon (each daemon has its own, all at once). */
    concurrencyPerDaemon: number;
    /** Sum over the daemons. */
    callsPerSec: number;
    /** The slowest daemon's. */
    p50Ms: number;
    p99Ms: number;
    errors: number;
    providerRequests: number;
  };
  storm: {
    callers: number;
    providerLatencyMs: number;
    providerRefreshes: number;
    providerTokenRequests: number;
    providerReplays: number;
    errors: number;
    errorSamples: string[];
    /** The slowest daemon's callers' figures. */
    p50Ms: number;
    p99Ms: number;
    maxMs: number;
    /** The most distinct tokens one daemon's callers got (1 when all shared the one refresh). */
    distinctTokensPerDaemon: number;
    staleAnswers: number;
  };
}

const DAEMONS = 4;
const LINKS = 100;

/**
 * Scenario 5: a fleet — 4 daemons on one PostgreSQL database (a throwaway
 * cluster). Cache hits on every daemon at once, then a refresh storm split
 * over the 4 daemons on one link: the lease lets one host refresh, the
 * others wait for its commit (NOTIFY). Undefined when no PostgreSQL is
 * installed.
 */
export async function runFleet(ctx: ScenarioContext): Promise<FleetResult | undefined> {
  const { opts, loadgen } = ctx;
  const pg = await startBenchPostgres();
  if (pg === undefined) {
    ctx.log("  skipped: no PostgreSQL (Debian's postgresql) under /usr/lib/postgresql");
    return undefined;
  }
  let fake: FakeProvider | undefined;
  const daemons: BenchDaemon[] = [];
  try {
    fake = await startBenchProvider(opts.storm.latencyMs);
    const urlFile = join(ctx.dir, "pg-url");
    writeFileSync(urlFile, `${pg.url}\n`, { mode: 0o600 });
    for (let i = 0; i < DAEMONS; i++) {
      daemons.push(await startBenchDaemon({ cli: opts.cli, dir: ctx.dir, name: `host-${i}`, provider: daemonProviderOf(fake), store: { postgres: { url_file: urlFile } } }));
    }
    const first = daemons[0]!;
    const seeded = await loadgen.run({ kind: "import", address: first.grpcTarget, channels: 1, concurrency: 16, providerId: PROVIDER_ID, synthetic: { userPrefix: "fleet-", from: 0, count: LINKS, expiresAtMs: Date.now() + 3_600_000 } });
    if (seeded.errors > 0) throw new Error(`seeding failed: ${seeded.samples.join("; ")}`);
    await warmRefreshPath(ctx, first, fake);
    const cache = await cacheHits(ctx, daemons, fake);
    ctx.log(`  cache hits, ${DAEMONS} daemons × ${opts.cache.concurrency.at(-1)} callers: ${fmt(cache.callsPerSec, 0)} calls/s in all, p99 ${fmt(cache.p99Ms, 1)} ms (slowest daemon), ${cache.errors} errors`);
    const storm = await stormAcross(ctx, daemons, fake);
    ctx.log(`  storm, ${storm.callers} callers over ${DAEMONS} daemons: ${storm.providerRefreshes} refresh(es), ${storm.providerReplays} replays, p50 ${fmt(storm.p50Ms, 1)} ms, p99 ${fmt(storm.p99Ms, 1)} ms, ${storm.errors} errors`);
    return { daemons: DAEMONS, links: LINKS, cache, storm };
  } finally {
    await Promise.all(daemons.map((d) => d.stop()));
    await fake?.close();
    await pg.stop();
  }
}

async function cacheHits(ctx: ScenarioContext, daemons: BenchDaemon[], fake: FakeProvider): Promise<FleetResult["cache"]> {
  const concurrency = ctx.opts.cache.concurrency.at(-1) ?? 64;
  const before = fake.tokenRequests;
  const job = (d: BenchDaemon) =>
    ctx.loadgen.run({
      kind: "load",
      transport: "grpc",
      address: d.grpcTarget,
      method: "obtain",
      keys: { providerId: PROVIDER_ID, userPrefix: "fleet-", count: LINKS },
      concurrency,
      channels: ctx.opts.channels,
      warmupMs: ctx.opts.cache.warmupMs,
      durationMs: ctx.opts.cache.durationMs,
    });
  const results = await Promise.all(daemons.map(job));
  return {
    concurrencyPerDaemon: concurrency,
    callsPerSec: results.reduce((n, r) => n + r.callsPerSec, 0),
    p50Ms: Math.max(...results.map((r) => r.latency.p50Ms)),
    p99Ms: Math.max(...results.map((r) => r.latency.p99Ms)),
    errors: results.reduce((n, r) => n + r.errors, 0),
    providerRequests: fake.tokenRequests - before,
  };
}

async function stormAcross(ctx: ScenarioContext, daemons: BenchDaemon[], fake: FakeProvider): Promise<FleetResult["storm"]> {
  const { opts, loadgen } = ctx;
  const seed = fake.issue({ accessTtlSec: 30 });
  const imported = await loadgen.run({
    kind: "import",
    address: daemons[0]!.grpcTarget,
    channels: 1,
    concurrency: 1,
    providerId: PROVIDER_ID,
    links: [{ userId: "storm-0", accessToken: seed.accessToken, refreshToken: seed.refreshToken, expiresAtMs: seed.expiresAt }],
  });
  if (imported.errors > 0) throw new Error(`seeding failed: ${imported.samples.join("; ")}`);
  const before = { refreshes: fake.refreshes, requests: fake.tokenRequests, replays: fake.replays };
  const per = Math.ceil(opts.storm.callers / daemons.length);
  const bursts = await Promise.all(
    daemons.map((d) =>
      loadgen.run({ kind: "burst", address: d.grpcTarget, channels: opts.channels, keys: { providerId: PROVIDER_ID, userPrefix: "storm-", count: 1 }, callsPerKey: per, deadlineMs: 30_000, minValidMs: 60_000 }),
    ),
  );
  const all = mergeLatency(bursts.map((b) => b.latency));
  return {
    callers: per * daemons.length,
    providerLatencyMs: opts.storm.latencyMs,
    providerRefreshes: fake.refreshes - before.refreshes,
    providerTokenRequests: fake.tokenRequests - before.requests,
    providerReplays: fake.replays - before.replays,
    errors: bursts.reduce((n, b) => n + b.errors, 0),
    errorSamples: bursts.flatMap((b) => b.samples).slice(0, 5),
    ...all,
    distinctTokensPerDaemon: Math.max(...bursts.map((b) => b.maxDistinctTokensPerKey)),
    staleAnswers: bursts.reduce((n, b) => n + b.staleAnswers, 0),
  };
}

/** The bursts' figures bounded by the slowest daemon's (the load generator returns a summary per burst). */
function mergeLatency(ls: LatencySummary[]): { p50Ms: number; p99Ms: number; maxMs: number } {
  return { p50Ms: Math.max(...ls.map((l) => l.p50Ms)), p99Ms: Math.max(...ls.map((l) => l.p99Ms)), maxMs: Math.max(...ls.map((l) => l.maxMs)) };
}
