/**
 * Throughput with a load generator that is not the bottleneck (issue 24):
 * h2load (native HTTP/2, one thread, 8 connections × 16 streams, h2c on
 * 127.0.0.1) against, in alternating rounds within one run,
 *   raw     node:http2 writing a fixed gRPC answer (what Node's HTTP/2 costs),
 *   bare    a bare @grpc/grpc-js server answering a fixed ObtainAccessTokenResponse,
 *   health  the daemon's grpc.health.v1.Health/Check (every RPC's own machinery),
 *   broker  the daemon's ObtainAccessToken, a cache hit,
 * the daemon with its audit trail on, to a file, as an operator runs it.
 * Every answer is checked from the bytes h2load received: a gRPC error has no
 * DATA, so DATA = calls × the size of a probed success proves each succeeded.
 */
import { readFileSync, writeFileSync } from "node:fs";
import { join } from "node:path";
import { create, fromBinary, toBinary } from "@bufbuild/protobuf";
import { HealthCheckRequestSchema } from "../../gen/grpc/health/v1/health_pb.js";
import { ObtainAccessTokenRequestSchema, ObtainAccessTokenResponseSchema } from "../../gen/tokenbroker/v1/token_service_pb.js";
import { CpuMeter } from "../cpu-meter.js";
import { startBenchDaemon, type BenchDaemon } from "../daemon.js";
import { startTcpFloor, type TcpFloorServer } from "../echo.js";
import { fmt } from "../format.js";
import { grpcFrame } from "../grpc-frame.js";
import { badCalls, h2loadCommandLine, h2loadVersion, H2LOAD_MISSING, runH2Load, type H2LoadJob } from "../h2/h2load.js";
import { probeGrpc } from "../h2/probe.js";
import { PROVIDER_ID, daemonProviderOf, startBenchProvider } from "../provider.js";
import { PATHS } from "../rpc-paths.js";
import { median } from "../stats.js";
import { monotonicUs, summarizeProfile, type ProfileSummary, type Window } from "../profile-summary.js";
import type { ScenarioContext } from "./context.js";

export type H2Target = "raw" | "bare" | "health" | "broker";
export const H2_TARGETS: H2Target[] = ["raw", "bare", "health", "broker"];

export interface H2Cell {
  target: H2Target;
  round: number;
  callsPerSec: number;
  calls: number;
  p50Ms: number;
  p99Ms: number;
  /** CPU the serving process spent per call (µs). */
  serverCpuUsPerCall: number;
  serverCores: number;
  h2loadCores: number;
  othersCores: number;
  /** Calls that were not a gRPC success of the probed size (must be 0). */
  bad: number;
}

export interface H2Summary {
  target: H2Target;
  /** Medians over the rounds. */
  callsPerSec: number;
  p50Ms: number;
  p99Ms: number;
  serverCpuUsPerCall: number;
  vsBare: number;
  p99VsBare: number;
}

export interface H2ThroughputResult {
  h2load: string;
  /** The h2load command line of the broker cells (token masked). */
  command: string;
  connections: number;
  streams: number;
  durationS: number;
  rounds: number;
  auditToFile: boolean;
  cells: H2Cell[];
  summary: H2Summary[];
  providerRequests: number;
  daemonProblems: Record<string, number>;
  /** With --profile (the daemon then runs under --cpu-prof, so its figures are lower): its CPU in the health and broker cells. */
  profiles?: { health: ProfileSummary; broker: ProfileSummary };
}

export async function runH2Throughput(ctx: ScenarioContext): Promise<H2ThroughputResult> {
  const version = h2loadVersion();
  if (version === undefined) throw new Error(H2LOAD_MISSING);
  const { opts, loadgen } = ctx;
  const { connections, streams, durationS, warmupS, rounds } = opts.h2load;
  const fake = await startBenchProvider(0);
  let daemon: BenchDaemon | undefined;
  const floors: Partial<Record<"raw" | "bare", TcpFloorServer>> = {};
  const windows: Record<"health" | "broker", Window[]> = { health: [], broker: [] };
  let result: H2ThroughputResult;
  try {
    daemon = await startBenchDaemon({
      cli: opts.cli,
      dir: ctx.dir,
      name: "h2",
      provider: daemonProviderOf(fake),
      grpcTcp: true,
      auditFile: join(ctx.dir, "audit.jsonl"),
      cpuProfDir: opts.profile ? ctx.dir : undefined,
    });
    floors.raw = await startTcpFloor("raw");
    floors.bare = await startTcpFloor("bare");
    const seeded = await loadgen.run({
      kind: "import",
      address: daemon.grpcTarget,
      channels: opts.channels,
      concurrency: opts.importConcurrency,
      providerId: PROVIDER_ID,
      synthetic: { userPrefix: "hit-", from: 0, count: 100, expiresAtMs: Date.now() + 3_600_000 },
    });
    if (seeded.errors > 0) throw new Error(`seeding failed: ${seeded.samples.join("; ")}`);

    const obtainBody = join(ctx.dir, "obtain.bin");
    writeFileSync(obtainBody, grpcFrame(toBinary(ObtainAccessTokenRequestSchema, create(ObtainAccessTokenRequestSchema, { userId: "hit-42", providerId: PROVIDER_ID }))));
    const healthBody = join(ctx.dir, "health.bin");
    writeFileSync(healthBody, grpcFrame(toBinary(HealthCheckRequestSchema, create(HealthCheckRequestSchema, { service: "" }))));
    // The same headers to every server, so each parses the same request.
    const headers = { "content-type": "application/grpc", te: "trailers", authorization: `Bearer ${daemon.callerToken}` };
    const d = daemon;
    const where: Record<H2Target, { baseUrl: string; path: string; body: string; pid: number }> = {
      raw: { baseUrl: floors.raw.baseUrl, path: PATHS.obtain, body: obtainBody, pid: floors.raw.pid },
      bare: { baseUrl: floors.bare.baseUrl, path: PATHS.obtain, body: obtainBody, pid: floors.bare.pid },
      health: { baseUrl: d.grpcTcpBaseUrl!, path: PATHS.health, body: healthBody, pid: d.pid },
      broker: { baseUrl: d.grpcTcpBaseUrl!, path: PATHS.obtain, body: obtainBody, pid: d.pid },
    };
    const sizes = new Map<H2Target, number>();
    for (const t of H2_TARGETS) {
      const w = where[t];
      const answer = await probeGrpc(w.baseUrl, w.path, readFileSync(w.body), headers);
      if (answer.grpcStatus !== "0" || answer.message === undefined) throw new Error(`${t}: the probe call failed: grpc-status ${answer.grpcStatus} ${answer.grpcMessage ?? ""}`);
      if (t === "broker" && fromBinary(ObtainAccessTokenResponseSchema, answer.message).token?.accessToken === undefined) throw new Error("broker: the probe's answer holds no token");
      sizes.set(t, answer.dataBytes);
    }

    const jobOf = (t: H2Target, seconds: number, log: string, onStart?: (pid: number) => void): H2LoadJob => ({
      baseUrl: where[t].baseUrl,
      path: where[t].path,
      bodyFile: where[t].body,
      headers,
      connections,
      streams,
      durationS: seconds,
      warmupS,
      logFile: log,
      ...(onStart !== undefined ? { onStart } : {}),
    });
    // Warm every server's path (JIT) before the first measured cell.
    for (const t of H2_TARGETS) await runH2Load(jobOf(t, 1, join(ctx.dir, `warm-${t}.log`)));

    const cells: H2Cell[] = [];
    for (let round = 0; round < rounds; round++) {
      // ABCD, DCBA, …: drift in background load hits every target alike.
      const order = round % 2 === 0 ? H2_TARGETS : [...H2_TARGETS].reverse();
      for (const t of order) {
        // Meter only h2load's measured window (after its warm-up), and stop
        // just before it ends: a process gone can no longer be read.
        const timers: NodeJS.Timeout[] = [];
        let meter: CpuMeter | undefined;
        let cpu: ReturnType<CpuMeter["stop"]> | undefined;
        const r = await runH2Load(
          jobOf(t, durationS, join(ctx.dir, `${t}-${round}.log`), (pid) => {
            const window = { fromUs: 0, toUs: 0 };
            timers.push(setTimeout(() => ((meter = new CpuMeter({ server: where[t].pid, h2load: pid }).start()), (window.fromUs = monotonicUs())), warmupS * 1000));
            timers.push(setTimeout(() => ((cpu = meter?.stop()), (window.toUs = monotonicUs())), (warmupS + durationS) * 1000 - 100));
            if (t === "health" || t === "broker") windows[t].push(window);
          }),
        );
        for (const x of timers) clearTimeout(x);
        const serverCores = cpu?.cores.server ?? 0;
        const cell: H2Cell = {
          target: t,
          round,
          callsPerSec: r.requestsPerSec,
          calls: r.done,
          p50Ms: r.latency.p50Ms,
          p99Ms: r.latency.p99Ms,
          serverCpuUsPerCall: r.requestsPerSec > 0 ? (serverCores * 1e6) / r.requestsPerSec : 0,
          serverCores,
          h2loadCores: cpu?.cores.h2load ?? 0,
          othersCores: cpu?.othersCores ?? 0,
          bad: badCalls(r, sizes.get(t)!, r.done),
        };
        cells.push(cell);
        ctx.log(
          `  ${t.padEnd(6)} round ${round + 1}: ${fmt(cell.callsPerSec, 0)} calls/s  p50 ${fmt(cell.p50Ms, 2)} ms  p99 ${fmt(cell.p99Ms, 2)} ms  server ${fmt(cell.serverCpuUsPerCall, 1)} µs/call` +
            `  h2load ${fmt(cell.h2loadCores, 2)} cores${cell.bad > 0 ? `  BAD ${cell.bad}` : ""}  (others ${fmt(cell.othersCores, 2)} cores)`,
        );
      }
    }
    const med = (t: H2Target, f: (c: H2Cell) => number): number => median(cells.filter((c) => c.target === t).map(f));
    const bare = { cps: med("bare", (c) => c.callsPerSec), p99: med("bare", (c) => c.p99Ms) };
    const summary = H2_TARGETS.map(
      (t): H2Summary => ({
        target: t,
        callsPerSec: med(t, (c) => c.callsPerSec),
        p50Ms: med(t, (c) => c.p50Ms),
        p99Ms: med(t, (c) => c.p99Ms),
        serverCpuUsPerCall: med(t, (c) => c.serverCpuUsPerCall),
        vsBare: med(t, (c) => c.callsPerSec) / bare.cps,
        p99VsBare: med(t, (c) => c.p99Ms) / bare.p99,
      }),
    );
    result = {
      h2load: version,
      command: h2loadCommandLine(jobOf("broker", durationS, "h2load.log")),
      connections,
      streams,
      durationS,
      rounds,
      auditToFile: true,
      cells,
      summary,
      providerRequests: fake.tokenRequests,
      daemonProblems: Object.fromEntries(daemon.problems),
    };
  } finally {
    await floors.raw?.stop();
    await floors.bare?.stop();
    const stopped = await daemon?.stop();
    await fake.close();
    if (stopped?.profile !== undefined) {
      ctx.log(`  profile written: ${stopped.profile}`);
      if (windows.broker.length > 0) result!.profiles = { health: summarizeProfile(stopped.profile, 30, windows.health), broker: summarizeProfile(stopped.profile, 30, windows.broker) };
    }
  }
  return result;
}
