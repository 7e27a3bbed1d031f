/**
 * The refresh storm with h2load as the sender (issue 24): 1,000 calls for one
 * link whose token needs a refresh (30 s left, below the 60 s default
 * min_valid_for), sent at once by h2load (10 connections × 100 streams), the
 * provider answering in 200 ms — so the figure is the daemon's, not a grpc-js
 * client's. The same burst against the bare grpc-js server is the floor, twice:
 * answered at once, and held as a shared refresh holds it (every call of the
 * burst answered when the provider's latency has passed since the first), so
 * "held p99 − latency" is what grpc-js alone needs to answer the burst.
 * Checked: exactly 1 provider refresh, no replay, every call a gRPC success
 * (DATA bytes), and the audit trail shows one token fingerprint for all
 * 1,000, not the old token's.
 */
import { readFileSync, writeFileSync } from "node:fs";
import { join } from "node:path";
import { create, toBinary } from "@bufbuild/protobuf";
import { ObtainAccessTokenRequestSchema } from "../../gen/tokenbroker/v1/token_service_pb.js";
import { tokenFingerprint } from "../../src/rpc/caller-token-format.js";
import { startBenchDaemon, type BenchDaemon } from "../daemon.js";
import { startTcpFloor } from "../echo.js";
import { fmt } from "../format.js";
import { grpcFrame } from "../grpc-frame.js";
import { badCalls, h2loadCommandLine, h2loadVersion, H2LOAD_MISSING, runH2Load, type H2LoadJob } from "../h2/h2load.js";
import { probeGrpc } from "../h2/probe.js";
import { PROVIDER_ID, daemonProviderOf, startBenchProvider } from "../provider.js";
import { PATHS } from "../rpc-paths.js";
import { monotonicUs, summarizeProfile, type ProfileSummary } from "../profile-summary.js";
import type { ScenarioContext } from "./context.js";
import { importOneLink, warmRefreshPath } from "./warm-refresh.js";

export interface H2StormResult {
  command: string;
  callers: number;
  providerLatencyMs: number;
  providerRefreshes: number;
  providerTokenRequests: number;
  providerReplays: number;
  /** Calls that were not a gRPC success of the answer's size. */
  bad: number;
  minMs: number;
  p50Ms: number;
  p99Ms: number;
  maxMs: number;
  /** The same burst against the bare grpc-js server, answered at once. */
  floor: BurstFigures;
  /** The same burst against the bare grpc-js server holding every call until the provider's latency has passed since the first. */
  heldFloor: BurstFigures;
  /** From the burst's start: when the provider got the refresh, and when it answered (latency later). */
  refreshSentMs: number;
  /** Distinct token fingerprints in the storm's audit lines (1), and whether one was the replaced token's. */
  distinctTokens: number;
  servedOldToken: boolean;
  auditLines: number;
  /** With --profile: where the daemon's CPU went during the storm. */
  profile?: ProfileSummary;
}

export interface BurstFigures {
  p50Ms: number;
  p99Ms: number;
  bad: number;
}

export async function runH2Storm(ctx: ScenarioContext): Promise<H2StormResult> {
  if (h2loadVersion() === undefined) throw new Error(H2LOAD_MISSING);
  const { opts } = ctx;
  const callers = opts.storm.callers;
  const connections = 10;
  const streams = Math.ceil(callers / connections);
  const fake = await startBenchProvider(opts.storm.latencyMs);
  const audit = join(ctx.dir, "audit.jsonl");
  let daemon: BenchDaemon | undefined;
  let result: H2StormResult;
  const window = { fromUs: 0, toUs: 0 };
  try {
    daemon = await startBenchDaemon({ cli: opts.cli, dir: ctx.dir, name: "h2storm", provider: daemonProviderOf(fake), grpcTcp: true, auditFile: audit, cpuProfDir: opts.profile ? ctx.dir : undefined });
    const body = join(ctx.dir, "storm.bin");
    writeFileSync(body, grpcFrame(toBinary(ObtainAccessTokenRequestSchema, create(ObtainAccessTokenRequestSchema, { userId: "storm-0", providerId: PROVIDER_ID }))));
    const headers = { "content-type": "application/grpc", te: "trailers", authorization: `Bearer ${daemon.callerToken}` };
    const burst = (baseUrl: string, log: string): H2LoadJob => ({ baseUrl, path: PATHS.obtain, bodyFile: body, headers, connections, streams, requests: callers, logFile: join(ctx.dir, log) });

    const floor = await floorBurst(burst, body, headers);
    ctx.log(`  floor (same burst, bare grpc-js): p50 ${fmt(floor.p50Ms, 1)} ms, p99 ${fmt(floor.p99Ms, 1)} ms`);
    const heldFloor = await floorBurst(burst, body, headers, opts.storm.latencyMs);
    ctx.log(`  held floor (same burst, bare grpc-js answering all ${opts.storm.latencyMs} ms after the first): p50 ${fmt(heldFloor.p50Ms, 1)} ms, p99 ${fmt(heldFloor.p99Ms, 1)} ms`);
    await warmRefreshPath(ctx, daemon, fake);
    // Warm the TCP listener's call path too (the warm-up above used the Unix socket).
    await runH2Load({ ...burst(daemon.grpcTcpBaseUrl!, "warm.log"), path: PATHS.health, requests: 2000, streams: 16 });

    const seed = await importOneLink(ctx, daemon, fake, "storm-0", 30);
    const auditBefore = readLines(audit).length;
    const before = { refreshes: fake.refreshes, requests: fake.tokenRequests, replays: fake.replays };
    const job = burst(daemon.grpcTcpBaseUrl!, "storm.log");
    let decidedAt = 0;
    fake.beforeRespond = async () => void (decidedAt = Date.now());
    window.fromUs = monotonicUs();
    const r = await runH2Load(job);
    window.toUs = monotonicUs();
    const after = await probeGrpc(daemon.grpcTcpBaseUrl!, PATHS.obtain, readFileSync(body), headers);
    if (after.grpcStatus !== "0") throw new Error(`after the storm a call failed: grpc-status ${after.grpcStatus}`);
    // Audit lines are written once each call is done; wait (bounded) for all of them.
    const stormLines = await auditLinesOf(audit, auditBefore, callers + 1);
    const prints = new Set(stormLines.map((l) => l.token_fingerprints?.[PROVIDER_ID]).filter((x): x is string => x !== undefined));
    result = {
      command: h2loadCommandLine(job),
      callers,
      providerLatencyMs: opts.storm.latencyMs,
      providerRefreshes: fake.refreshes - before.refreshes,
      providerTokenRequests: fake.tokenRequests - before.requests,
      providerReplays: fake.replays - before.replays,
      bad: badCalls(r, after.dataBytes, callers),
      refreshSentMs: decidedAt - r.firstStartMs - opts.storm.latencyMs,
      minMs: r.latency.minMs,
      p50Ms: r.latency.p50Ms,
      p99Ms: r.latency.p99Ms,
      maxMs: r.latency.maxMs,
      floor,
      heldFloor,
      distinctTokens: prints.size,
      servedOldToken: prints.has(tokenFingerprint(seed.accessToken)),
      auditLines: stormLines.length,
    };
    ctx.log(
      `  ${callers} callers: ${result.providerRefreshes} refresh(es), first ${fmt(result.minMs, 1)} ms, p50 ${fmt(result.p50Ms, 1)} ms, p99 ${fmt(result.p99Ms, 1)} ms, max ${fmt(result.maxMs, 1)} ms, ` +
        `${result.bad} bad, ${result.distinctTokens} token(s) in ${result.auditLines} audit lines; the refresh reached the provider ${fmt(result.refreshSentMs, 1)} ms after h2load started`,
    );
  } finally {
    const stopped = await daemon?.stop();
    await fake.close();
    if (stopped?.profile !== undefined) ctx.log(`  profile written: ${stopped.profile}`);
    if (stopped?.profile !== undefined && window.toUs > 0) result!.profile = summarizeProfile(stopped.profile, 25, window);
  }
  return result;
}

async function floorBurst(burst: (baseUrl: string, log: string) => H2LoadJob, body: string, headers: Record<string, string>, holdMs?: number): Promise<BurstFigures> {
  const bare = await startTcpFloor("bare", holdMs);
  try {
    await runH2Load({ ...burst(bare.baseUrl, "floor-warm.log"), requests: 5000, streams: 16 });
    const probe = await probeGrpc(bare.baseUrl, PATHS.obtain, readFileSync(body), headers);
    if (holdMs !== undefined) await bare.arm();
    const r = await runH2Load(burst(bare.baseUrl, holdMs === undefined ? "floor.log" : "held-floor.log"));
    return { p50Ms: r.latency.p50Ms, p99Ms: r.latency.p99Ms, bad: badCalls(r, probe.dataBytes, r.started) };
  } finally {
    await bare.stop();
  }
}

interface AuditLine {
  method?: string;
  token_fingerprints?: Record<string, string>;
}

function readLines(file: string): string[] {
  try {
    return readFileSync(file, "utf8").split("\n").filter((l) => l !== "");
  } catch {
    return [];
  }
}

async function auditLinesOf(file: string, from: number, want: number): Promise<AuditLine[]> {
  const deadline = Date.now() + 5000;
  for (;;) {
    const lines = readLines(file)
      .slice(from)
      .map((l) => JSON.parse(l) as AuditLine)
      .filter((l) => l.method === PATHS.obtain);
    if (lines.length >= want || Date.now() > deadline) return lines;
    await new Promise((r) => setTimeout(r, 50));
  }
}
