import { writeFileSync } from "node:fs";
import { fmt, table } from "./format.js";
import type { BuildInfo } from "./build-info.js";
import type { MachineInfo } from "./machine.js";
import { formatProfile } from "./profile-summary.js";
import { formatH2 } from "./h2/checks.js";
import type { AllResults, Check } from "./targets.js";

export interface Contention {
  /** Free text from --note / BENCH_NOTE. */
  note: string | undefined;
  /** CPU other processes used during the measured windows, in cores (of `cpus`). */
  othersCoresMean: number;
  othersCoresMax: number;
  loadavgAtEnd: number[];
  /** True when other processes took a noticeable share of the machine (≥ 0.2 cores on average). */
  contended: boolean;
}

export interface Report {
  benchmark: string;
  mode: "full" | "quick" | "partial";
  scenarios: string[];
  machine: MachineInfo;
  build: BuildInfo;
  contention: Contention;
  durationS: number;
  options: unknown;
  results: AllResults;
  checks: Check[];
}

export function formatReport(rep: Report): string {
  const out: string[] = [];
  const r = rep.results;
  const m = rep.machine;
  out.push(`tokenbroker bench — ${rep.mode} run, ${m.date}, node ${m.node}, ${m.cpus} × ${m.cpuModel}`);
  const b = rep.build;
  out.push(
    `build: ${b.cli}${b.gitHead !== undefined ? ` (git ${b.gitHead.slice(0, 12)}${b.dirty !== undefined && b.dirty.length > 0 ? ` + uncommitted changes in ${b.dirty.length} src/gen file(s)` : ""})` : ""}`,
  );
  const c = rep.contention;
  out.push(
    `contention: other processes used ${fmt(c.othersCoresMean, 2)} cores on average (max ${fmt(c.othersCoresMax, 2)}) of ${m.cpus} during the measured windows` +
      `${c.contended ? " — CONTENDED: figures are noisy" : ""}${c.note !== undefined ? `; note: ${c.note}` : ""}`,
  );

  out.push(...formatH2(r.h2load, r.h2storm));
  if (r.cache !== undefined) {
    out.push("", `1. Cache hit (${r.cache.links} links; gRPC over the Unix socket unless noted; server µs/call = CPU of the serving process per call)`);
    const rows = [["target", "callers", "calls/s", "p50 ms", "p99 ms", "max ms", "server µs/call", "errors", "others cores"]];
    const label: Record<string, string> = {
      broker: "ObtainAccessToken",
      noop: "Health/Check (no-op)",
      bare: "bare grpc-js echo",
      connect: "ObtainAccessToken Connect/1.1",
    };
    for (const x of r.cache.cells) {
      rows.push([label[x.target] ?? x.target, String(x.concurrency), fmt(x.callsPerSec, 0), fmt(x.p50Ms, 2), fmt(x.p99Ms, 2), fmt(x.maxMs, 1), fmt(x.serverCpuUsPerCall, 0), String(x.errors), fmt(x.othersCores, 2)]);
    }
    out.push(table(rows));
    out.push("");
    const ratioRows = [["callers", "calls/s broker/no-op", "calls/s broker/bare", "p99 broker/no-op", "calls/s Connect/gRPC", "CPU/call no-op/broker", "CPU/call bare/broker"]];
    for (const x of r.cache.ratios) {
      ratioRows.push([String(x.concurrency), fmt(x.brokerVsNoop, 3), fmt(x.brokerVsBare, 3), fmt(x.p99VsNoop, 3), fmt(x.connectVsGrpc, 3), fmt(x.cpuNoopVsBroker, 3), fmt(x.cpuBareVsBroker, 3)]);
    }
    out.push(table(ratioRows));
    if (r.cache.profile !== undefined) out.push("", formatProfile(r.cache.profile));
  }

  if (r.storm !== undefined) {
    const s = r.storm;
    out.push("", `2. Refresh storm (${s.callers} callers on one key, provider latency ${s.providerLatencyMs} ms)`);
    out.push(
      table([
        ["provider refreshes", "token requests", "replays", "errors", "first ms", "p50 ms", "p99 ms", "max ms", "p99 − latency ms", "distinct tokens"],
        [String(s.providerRefreshes), String(s.providerTokenRequests), String(s.providerReplays), String(s.errors), fmt(s.minMs, 1), fmt(s.p50Ms, 1), fmt(s.p99Ms, 1), fmt(s.maxMs, 1), fmt(s.p99Ms - s.providerLatencyMs, 1), String(s.distinctTokens)],
      ]),
    );
    out.push(
      `   transport floor — the same ${s.callers}-call burst against the bare grpc-js echo server: first ${fmt(s.floor.firstMs, 1)} ms, ` +
        `p50 ${fmt(s.floor.p50Ms, 1)} ms, p99 ${fmt(s.floor.p99Ms, 1)} ms; storm p99 − floor p99 = ${fmt(s.p99Ms - s.floor.p99Ms, 1)} ms`,
    );
    if (s.profile !== undefined) out.push("", formatProfile(s.profile));
  }

  if (r.mass !== undefined) {
    const x = r.mass;
    out.push("", `3. Mass expiry (${x.keys} keys at once, provider latency ${x.providerLatencyMs} ms, provider_concurrency ${x.limit})`);
    out.push(
      table([
        ["total s", "ideal s", "× ideal", "peak provider conc.", "refreshes", "replays", "errors", "caller p50 s", "caller p99 s", "seed /s", "daemon cores", "others cores"],
        [
          fmt(x.wallMs / 1000, 2),
          fmt(x.idealMs / 1000, 2),
          fmt(x.vsIdeal, 3),
          `${x.peakProviderConcurrency}/${x.limit}`,
          String(x.providerRefreshes),
          String(x.providerReplays),
          String(x.errors),
          fmt(x.callerP50Ms / 1000, 2),
          fmt(x.callerP99Ms / 1000, 2),
          fmt(x.seedPerSec, 0),
          fmt(x.daemonCores, 2),
          fmt(x.othersCores, 2),
        ],
      ]),
    );
    if (x.errors > 0) out.push(`   errors: ${JSON.stringify(x.errorsByCode)}; e.g. ${x.errorSamples.slice(0, 2).join(" | ")}`);
    if (x.profile !== undefined) out.push("", formatProfile(x.profile));
  }

  if (r.scale !== undefined) {
    const s = r.scale;
    out.push("", `4. Scale (${s.largeLinks} vs ${s.smallLinks} links, ${s.concurrency} callers on random keys, medians of ${s.runs.length / 2} round(s))`);
    out.push(
      table([
        ["store", "links", "calls/s", "p99 ms", "CPU µs/call", "RSS MB at start", "RSS MB after", "peak RSS MB"],
        ["small", String(s.smallLinks), fmt(s.smallCallsPerSec, 0), fmt(s.smallP99Ms, 2), fmt(s.smallCpuUsPerCall, 0), fmt(s.smallMemoryAtStart?.rssMb, 0), fmt(s.smallMemoryAfterLoad?.rssMb, 0), fmt(s.smallMemoryAfterLoad?.hwmMb, 0)],
        ["large", String(s.largeLinks), fmt(s.largeCallsPerSec, 0), fmt(s.largeP99Ms, 2), fmt(s.largeCpuUsPerCall, 0), fmt(s.largeMemoryAtStart?.rssMb, 0), fmt(s.largeMemoryAfterLoad?.rssMb, 0), fmt(s.largeMemoryAfterLoad?.hwmMb, 0)],
        ["bare grpc-js (floor)", "", "", "", "", fmt(s.bareMemoryAtStart?.rssMb, 0), fmt(s.bareMemoryAfterLoad?.rssMb, 0), fmt(s.bareMemoryAfterLoad?.hwmMb, 0)],
      ]),
    );
    out.push(
      `   seeding: ${s.seedBatchLinks} links in batches (putMany) in ${fmt(s.seedBatchMs / 1000, 1)} s (${fmt(s.seedBatchPerSec, 0)}/s), ` +
        `then ${s.seedImportLinks} through ImportLink in ${fmt(s.seedImportMs / 1000, 1)} s (${fmt(s.seedImportPerSec, 0)}/s); store ${fmt(s.dbFileMb, 1)} MB`,
      `   daemon start (spawn → serving): ${fmt(s.largeStartupMs, 0)} ms on the big store, ${fmt(s.smallStartupMs, 0)} ms on an empty one; ` +
        `lock map after: ${s.lockMapAfter.exposed ? s.lockMapAfter.value : "not exposed by the daemon"}`,
    );
    for (const [store, p] of Object.entries(s.profiles ?? {})) out.push("", `${store} store:`, formatProfile(p));
  }

  if (r.fleet !== undefined) {
    const { cache: c, storm: s } = r.fleet;
    out.push("", `5. Fleet (${r.fleet.daemons} daemons on one PostgreSQL; ms figures are the slowest daemon's)`);
    out.push(
      table([
        ["phase", "callers", "calls/s (all daemons)", "p50 ms", "p99 ms", "provider refreshes", "replays", "errors"],
        ["cache hit", `${r.fleet.daemons} × ${c.concurrencyPerDaemon}`, fmt(c.callsPerSec, 0), fmt(c.p50Ms, 1), fmt(c.p99Ms, 1), String(c.providerRequests), "0", String(c.errors)],
        [`storm (provider ${s.providerLatencyMs} ms)`, String(s.callers), "", fmt(s.p50Ms, 1), fmt(s.p99Ms, 1), String(s.providerRefreshes), String(s.providerReplays), String(s.errors)],
      ]),
    );
    if (s.errors > 0) out.push(`   errors, e.g. ${s.errorSamples.slice(0, 2).join(" | ")}`);
  }

  out.push("", "Targets (issues 6 and 24) and sanity checks");
  const rows = [["", "scenario", "check", "measured"]];
  for (const ch of rep.checks) rows.push([ch.status, ch.scenario, `${ch.kind === "target" ? "" : `(${ch.kind}) `}${ch.what}`, ch.measured]);
  out.push(table(rows, () => false));
  return out.join("\n");
}

export function writeReport(path: string, rep: Report): void {
  writeFileSync(path, `${JSON.stringify(rep, null, 2)}\n`);
}
