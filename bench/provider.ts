/**
 * The fake OAuth provider for the bench runs inside the parent process.
 *
 * Why not its own process: the parent does nothing while a job runs but wait
 * for one IPC message, and the provider's load is tiny (the storm needs one
 * token request; mass expiry at most `limit / latency` ≈ 160 requests/s), so
 * it takes no measurable CPU from the daemon or the load generator. In the
 * parent its counters (refreshes, replays, peakInFlight) are read directly,
 * with no IPC protocol to keep in step, and the refresh tokens it issues for
 * seeding never leave the bench's own processes.
 *
 * It is the test suite's fake (test/support/fake-provider.ts, compiled to
 * dist/test): single-use rotating refresh tokens with reuse detection, so a
 * second refresh of one link would show up as a replay, not pass silently.
 */
import { startFakeProvider, type FakeProvider } from "../test/support/fake-provider.js";
import type { DaemonProvider } from "./daemon.js";

export type { FakeProvider };

export const PROVIDER_ID = "bench";

export async function startBenchProvider(latencyMs: number, expiresInSec = 3600): Promise<FakeProvider> {
  return startFakeProvider({ latencyMs, expiresInSec });
}

export function daemonProviderOf(fake: FakeProvider): DaemonProvider {
  return { id: PROVIDER_ID, tokenUrl: fake.tokenUrl, clientId: fake.clientId, clientSecret: fake.clientSecret };
}
