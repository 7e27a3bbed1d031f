import type { BenchDaemon } from "../daemon.js";
import type { FakeProvider } from "../provider.js";
import type { IssuedTokens } from "../../test/support/fake-provider.js";
import { PROVIDER_ID } from "../provider.js";
import type { ScenarioContext } from "./context.js";

/**
 * One refresh through the daemon before a refresh scenario is measured, on a
 * link of its own, then a second of cache hits on it. A fresh daemon's first
 * refresh pays one-time costs (Node loads its fetch implementation, undici,
 * on first use; the first connection to the provider) and its call path is
 * not JIT-compiled yet; a daemon in service has long paid both. This keeps
 * them out of the storm's and mass expiry's figures.
 */
export async function warmRefreshPath(ctx: ScenarioContext, daemon: BenchDaemon, fake: FakeProvider): Promise<void> {
  await importOneLink(ctx, daemon, fake, "warmup-0", 5);
  const res = await ctx.loadgen.run({
    kind: "burst",
    address: daemon.grpcTarget,
    channels: 1,
    keys: { providerId: PROVIDER_ID, userPrefix: "warmup-", count: 1 },
    callsPerKey: 1,
    deadlineMs: 30_000,
    minValidMs: 60_000,
  });
  if (res.errors > 0) throw new Error(`warm-up refresh failed: ${res.samples.join("; ")}`);
  await ctx.loadgen.run({
    kind: "load",
    transport: "grpc",
    address: daemon.grpcTarget,
    method: "obtain",
    keys: { providerId: PROVIDER_ID, userPrefix: "warmup-", count: 1 },
    concurrency: 16,
    channels: ctx.opts.channels,
    warmupMs: 0,
    durationMs: 1000,
  });
}

/** Links `userId` with a token issued now with `accessTtlSec` left, through ImportLink; returns what was issued. */
export async function importOneLink(ctx: ScenarioContext, daemon: BenchDaemon, fake: FakeProvider, userId: string, accessTtlSec: number): Promise<IssuedTokens> {
  const seed = fake.issue({ accessTtlSec });
  const imported = await ctx.loadgen.run({
    kind: "import",
    address: daemon.grpcTarget,
    channels: 1,
    concurrency: 1,
    providerId: PROVIDER_ID,
    links: [{ userId, accessToken: seed.accessToken, refreshToken: seed.refreshToken, expiresAtMs: seed.expiresAt }],
  });
  if (imported.errors > 0) throw new Error(`seeding failed: ${imported.samples.join("; ")}`);
  return seed;
}
