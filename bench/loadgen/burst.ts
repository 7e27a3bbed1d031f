import { fromBinary } from "@bufbuild/protobuf";
import { timestampMs } from "@bufbuild/protobuf/wkt";
import { ObtainAccessTokenResponseSchema } from "../../gen/tokenbroker/v1/token_service_pb.js";
import type { BurstJob, BurstResult } from "../protocol.js";
import { LatencyRecorder } from "../stats.js";
import { closeAll, openChannels, unaryRaw, waitReady } from "./channels.js";
import { ErrorCounter } from "./errors.js";
import { HEALTH_CHECK_REQUEST, PATHS, obtainRequests } from "./requests.js";

/**
 * Every call at once (refresh storm, mass expiry): `callsPerKey` callers on
 * each key, all started in one go over warmed channels. Each answer is
 * decoded to count distinct tokens per key and answers that are not fresh
 * enough; the tokens themselves stay in this process.
 */
export async function runBurst(job: BurstJob): Promise<BurstResult> {
  const clients = openChannels(job.address, job.channels);
  await waitReady(clients);
  // One call per channel first, so connection setup and first-call paths are not in the figures
  // (any answer will do: the echo server has no Health service).
  await Promise.all(clients.map((c) => unaryRaw(c, PATHS.health, HEALTH_CHECK_REQUEST, 10_000).catch(() => undefined)));
  const requests = obtainRequests(job.keys);
  const latencies = new LatencyRecorder();
  const errors = new ErrorCounter();
  const tokens: Array<Set<string>> = requests.map(() => new Set());
  let stale = 0;
  let lastEnd = 0;
  let n = 0;
  const t0 = performance.now();
  const calls: Array<Promise<void>> = [];
  for (let k = 0; k < requests.length; k++) {
    for (let j = 0; j < job.callsPerKey; j++) {
      const start = performance.now();
      calls.push(
        unaryRaw(clients[n++ % clients.length]!, PATHS.obtain, requests[k]!, job.deadlineMs).then(
          (bytes) => {
            const end = performance.now();
            lastEnd = Math.max(lastEnd, end);
            latencies.add(end - start);
            const token = fromBinary(ObtainAccessTokenResponseSchema, bytes).token;
            tokens[k]!.add(token?.accessToken ?? "");
            const expiresAt = token?.expiresAt !== undefined ? timestampMs(token.expiresAt) : Infinity;
            if (expiresAt < Date.now() + job.minValidMs - 1_000) stale++;
          },
          (err: unknown) => {
            lastEnd = Math.max(lastEnd, performance.now());
            errors.add(err);
          },
        ),
      );
    }
  }
  await Promise.all(calls);
  closeAll(clients);
  return {
    kind: "burst",
    calls: calls.length,
    wallMs: lastEnd - t0,
    latency: latencies.summary(),
    maxDistinctTokensPerKey: Math.max(0, ...tokens.map((s) => s.size)),
    staleAnswers: stale,
    ...errors.tally(),
  };
}
