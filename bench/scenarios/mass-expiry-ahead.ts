import { startBenchDaemon, type BenchDaemon } from "../daemon.js";
import { fmt } from "../format.js";
import type { ImportLinkInit } from "../protocol.js";
import { PROVIDER_ID, daemonProviderOf, startBenchProvider } from "../provider.js";
import type { ScenarioContext } from "./context.js";
import { warmRefreshPath } from "./warm-refresh.js";

/** The links of this variant: its wave must fit in a quarter of a token lifetime, so it is kept short. */
const MAX_KEYS = 2_000;
/** The loadgen's callers send no min_valid_for: the daemon's default (refresh.min_valid_for, 60 s) applies. */
const CALLER_MIN_VALID_MS = 60_000;

export interface MassExpiryAheadResult {
  keys: number;
  providerLatencyMs: number;
  limit: number;
  /** The tokens' lifetime, sized so the background wave fits between 75 % and expiry. */
  lifetimeMs: number;
  /** First to last background refresh. */
  waveMs: number;
  providerRefreshes: number;
  providerReplays: number;
  peakProviderConcurrency: number;
  /** Links whose token could no longer satisfy the callers' min_valid_for before its background refresh. */
  expiredBeforeRefresh: number;
  /** Callers during the wave, and before it (the cache-hit floor of the same daemon). */
  callerP99Ms: number;
  floorP99Ms: number;
  callerErrors: number;
  staleAnswers: number;
  /** Callers that needed a refresh on their path (tokenbroker_refresh_lock_wait_seconds_count): the target is 0. */
  callersThatWaited: number;
  proactiveRefreshed: number;
}

/**
 * Scenario 3b: mass expiry, refreshed ahead (docs/design.md §3.4). The same
 * provider (50 ms, `limit` requests at a time) and a wave of links that come
 * due together, but in use: callers asked for them once, so the daemon
 * refreshes them in the background from 75 % of their lifetime, while
 * callers keep asking. Callers see no refresh on their path: their p99
 * stays at the cache-hit floor and none waits for a lock.
 */
export async function runMassExpiryAhead(ctx: ScenarioContext): Promise<MassExpiryAheadResult> {
  const { opts, loadgen } = ctx;
  const keys = Math.min(opts.mass.keys, MAX_KEYS);
  const { latencyMs, limit } = opts.mass;
  // Background refreshes take half the limit: the wave lasts keys × latency / (limit / 2). It starts at 75 % of
  // the time a token satisfies the callers (its lifetime less their 60 s) and must end within the last 20 % of it.
  const backgroundSlots = Math.max(1, Math.ceil(limit / 2));
  const usefulMs = Math.max(30_000, Math.ceil(((keys * latencyMs) / backgroundSlots / 0.2) * 1.5));
  const lifetimeMs = usefulMs + CALLER_MIN_VALID_MS;
  const fake = await startBenchProvider(latencyMs, Math.ceil(lifetimeMs / 1000));
  let daemon: BenchDaemon | undefined;
  const presentedAt = new Map<string, number>();
  const expiryOf = new Map<string, number>();
  fake.beforeRespond = async (c) => {
    if (c.presentedRefreshToken !== undefined && !presentedAt.has(c.presentedRefreshToken)) presentedAt.set(c.presentedRefreshToken, Date.now());
  };
  try {
    daemon = await startBenchDaemon({ cli: ctx.opts.cli, dir: ctx.dir, name: "mass-ahead", provider: daemonProviderOf(fake), providerConcurrency: limit });
    await warmRefreshPath(ctx, daemon, fake);
    const links: ImportLinkInit[] = Array.from({ length: keys }, (_, i) => {
      const t = fake.issue({ accessTtlSec: Math.ceil(lifetimeMs / 1000) });
      const expiresAtMs = Date.now() + lifetimeMs;
      expiryOf.set(t.refreshToken, expiresAtMs);
      return { userId: `ahead-${i}`, accessToken: t.accessToken, refreshToken: t.refreshToken, expiresAtMs };
    });
    const seeded = await loadgen.run({ kind: "import", address: daemon.grpcTarget, channels: opts.channels, concurrency: opts.importConcurrency, providerId: PROVIDER_ID, links });
    if (seeded.errors > 0) throw new Error(`seeding failed: ${seeded.samples.join("; ")}`);
    const seededAt = Date.now();
    const burst = () =>
      loadgen.run({ kind: "burst", address: daemon!.grpcTarget, channels: opts.channels, keys: { providerId: PROVIDER_ID, userPrefix: "ahead-", count: keys }, callsPerKey: 1, deadlineMs: 30_000, minValidMs: CALLER_MIN_VALID_MS });
    const lockWaits = async (): Promise<number> => {
      const text = await (await fetch(`${daemon!.httpBaseUrl}/metrics`)).text();
      return Number(text.split("\n").find((l) => l.startsWith("tokenbroker_refresh_lock_wait_seconds_count "))?.split(" ").pop() ?? 0);
    };
    // In use: one call each (cache hits), then the floor, before anything is due.
    const waitsBefore = await lockWaits();
    const first = await burst();
    const floor = await burst();
    const before = { replays: fake.replays };
    fake.peakInFlight = 0;
    // Callers keep asking through the wave, until every link was refreshed or the lifetime is over.
    const during: number[] = [];
    let errors = first.errors + floor.errors;
    let stale = 0;
    const refreshedAhead = (): number => [...expiryOf.keys()].filter((rt) => presentedAt.has(rt)).length;
    while (refreshedAhead() < keys && Date.now() < seededAt + usefulMs + 5_000) {
      const b = await burst();
      if (Date.now() > seededAt + usefulMs * 0.7) during.push(b.latency.p99Ms);
      errors += b.errors;
      stale += b.staleAnswers;
    }
    const metrics = await (await fetch(`${daemon.httpBaseUrl}/metrics`)).text();
    const sample = (name: string): number => Number(metrics.split("\n").find((l) => l.startsWith(`${name} `) || l.startsWith(`${name}{`))?.split(" ").pop() ?? 0);
    const times = [...expiryOf.keys()].flatMap((rt) => (presentedAt.has(rt) ? [presentedAt.get(rt) as number] : []));
    // Too late: once a token can no longer satisfy the callers' 60 s, they would refresh it themselves.
    const expired = [...expiryOf.entries()].filter(([rt, exp]) => (presentedAt.get(rt) ?? Number.POSITIVE_INFINITY) >= exp - CALLER_MIN_VALID_MS).length;
    const result: MassExpiryAheadResult = {
      keys,
      providerLatencyMs: latencyMs,
      limit,
      lifetimeMs,
      waveMs: times.length > 0 ? Math.max(...times) - Math.min(...times) : 0,
      providerRefreshes: refreshedAhead(),
      providerReplays: fake.replays - before.replays,
      peakProviderConcurrency: fake.peakInFlight,
      expiredBeforeRefresh: expired,
      callerP99Ms: during.length > 0 ? Math.max(...during) : 0,
      floorP99Ms: floor.latency.p99Ms,
      callerErrors: errors,
      staleAnswers: stale,
      callersThatWaited: (await lockWaits()) - waitsBefore,
      proactiveRefreshed: sample("tokenbroker_proactive_refreshes_total"),
    };
    ctx.log(
      `  ${keys} keys refreshed ahead: wave ${fmt(result.waveMs / 1000, 2)} s of a ${fmt(lifetimeMs / 1000, 0)} s lifetime, ${result.providerRefreshes} refreshes, ${result.expiredBeforeRefresh} expired first, ` +
        `peak ${result.peakProviderConcurrency}/${limit}; callers p99 ${fmt(result.callerP99Ms, 2)} ms (floor ${fmt(result.floorP99Ms, 2)} ms), ${result.callersThatWaited} waited, ${errors} errors`,
    );
    const problems: string[] = [];
    if (result.providerRefreshes !== keys || result.providerReplays !== 0) problems.push(`${result.providerRefreshes}/${keys} refreshes, ${result.providerReplays} replays`);
    if (result.expiredBeforeRefresh > 0) problems.push(`${result.expiredBeforeRefresh} links expired before their background refresh`);
    if (result.callersThatWaited > 0) problems.push(`${result.callersThatWaited} callers waited for a refresh`);
    if (result.peakProviderConcurrency > limit) problems.push(`peak provider concurrency ${result.peakProviderConcurrency} > ${limit}`);
    if (errors > 0 || stale > 0) problems.push(`${errors} caller errors, ${stale} stale answers`);
    if (problems.length > 0) throw new Error(`mass expiry ahead: ${problems.join("; ")}`);
    return result;
  } finally {
    await daemon?.stop();
    await fake.close();
  }
}
