import { fromBinary } from "@bufbuild/protobuf";
import { HealthCheckResponseSchema, HealthCheckResponse_ServingStatus } from "../../gen/grpc/health/v1/health_pb.js";
import { ObtainAccessTokenResponseSchema } from "../../gen/tokenbroker/v1/token_service_pb.js";
import type { LoadJob, LoadResult } from "../protocol.js";
import { LatencyRecorder } from "../stats.js";
import { closeAll, openChannels, unaryRaw, waitReady } from "./channels.js";
import { connectCaller } from "./connect.js";
import { ErrorCounter } from "./errors.js";
import { HEALTH_CHECK_REQUEST, PATHS, obtainRequests } from "./requests.js";

interface Caller {
  /** Caller i's next call. */
  call(i: number): Promise<unknown>;
  verify(answer: unknown): boolean;
  close(): void;
}

async function grpcCaller(job: LoadJob): Promise<Caller> {
  const clients = openChannels(job.address, Math.min(job.channels, job.concurrency));
  await waitReady(clients);
  if (job.method === "health") {
    return {
      call: (i) => unaryRaw(clients[i % clients.length]!, PATHS.health, HEALTH_CHECK_REQUEST),
      verify: (a) => fromBinary(HealthCheckResponseSchema, a as Buffer).status === HealthCheckResponse_ServingStatus.SERVING,
      close: () => closeAll(clients),
    };
  }
  const requests = obtainRequests(job.keys);
  return {
    call: (i) => unaryRaw(clients[i % clients.length]!, PATHS.obtain, requests[Math.floor(Math.random() * requests.length)]!),
    verify: (a) => (fromBinary(ObtainAccessTokenResponseSchema, a as Buffer).token?.accessToken.length ?? 0) > 0,
    close: () => closeAll(clients),
  };
}

/**
 * Closed-loop load: `concurrency` callers, each sending its next call as
 * soon as the last one answered, for warmup + duration. Throughput and
 * latencies count the calls that complete inside the measured window.
 */
export async function runLoad(job: LoadJob): Promise<LoadResult> {
  let caller: Caller;
  if (job.transport === "grpc") {
    caller = await grpcCaller(job);
  } else {
    const c = connectCaller(job.address, job.method, job.keys, job.concurrency, job.callerToken);
    caller = { call: () => c.call(), verify: (a) => c.verify(a), close: () => c.close() };
  }
  const latencies = new LatencyRecorder();
  const errors = new ErrorCounter();
  let verified = false;
  let verifyFailed = false;
  const t0 = performance.now();
  const from = t0 + job.warmupMs;
  const until = from + job.durationMs;
  let cpuAtStart: NodeJS.CpuUsage | undefined;
  const cpuTimer = setTimeout(() => (cpuAtStart = process.cpuUsage()), job.warmupMs);

  const loop = async (i: number): Promise<void> => {
    for (;;) {
      const start = performance.now();
      if (start >= until) return;
      let ok = true;
      let answer: unknown;
      try {
        answer = await caller.call(i);
      } catch (err) {
        ok = false;
        const end = performance.now();
        if (end >= from && end <= until) errors.add(err);
        continue;
      }
      const end = performance.now();
      if (end < from || end > until) continue;
      latencies.add(end - start);
      if (ok && !verified && !verifyFailed) {
        if (caller.verify(answer)) verified = true;
        else verifyFailed = true;
      }
    }
  };
  try {
    await Promise.all(Array.from({ length: job.concurrency }, (_, i) => loop(i)));
  } finally {
    clearTimeout(cpuTimer);
    caller.close();
  }
  const cpu = process.cpuUsage(cpuAtStart);
  const seconds = job.durationMs / 1000;
  return {
    kind: "load",
    calls: latencies.count,
    seconds,
    callsPerSec: latencies.count / seconds,
    latency: latencies.summary(),
    loadgenCpuMs: (cpu.user + cpu.system) / 1000,
    verified: verified && !verifyFailed,
    ...errors.tally(),
  };
}
