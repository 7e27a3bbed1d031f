import type { CacheHitResult } from "./scenarios/cache-hit.js";
import type { FleetResult } from "./scenarios/fleet.js";
import { gitCredentialChecks, type GitCredentialResult } from "./scenarios/git-credential.js";
import type { MassExpiryResult } from "./scenarios/mass-expiry.js";
import type { ScaleResult } from "./scenarios/scale.js";
import type { StormResult } from "./scenarios/storm.js";
import type { H2StormResult } from "./scenarios/h2load-storm.js";
import type { H2ThroughputResult } from "./scenarios/h2load-throughput.js";
import { h2Checks } from "./h2/checks.js";
import { fmt } from "./format.js";
import type { LockGauge } from "./lock-gauge.js";

export type Status = "PASS" | "MISS" | "N/A";

export interface Check {
  scenario: string;
  /**
   * "target": from issue 6, as written; "floor": the same target measured
   * above the transport floor (what the load generator alone costs); "sanity":
   * correctness the figures rest on.
   */
  kind: "target" | "floor" | "sanity";
  what: string;
  measured: string;
  status: Status;
}

export interface AllResults {
  h2load?: H2ThroughputResult;
  h2storm?: H2StormResult;
  cache?: CacheHitResult;
  storm?: StormResult;
  mass?: MassExpiryResult;
  scale?: ScaleResult;
  fleet?: FleetResult;
  git?: GitCredentialResult;
}

const ok = (b: boolean): Status => (b ? "PASS" : "MISS");
const lockText = (g: LockGauge): string => (g.exposed ? `${g.value} (tokenbroker_refresh_locks)` : `not exposed (${g.why})`);
const lockStatus = (g: LockGauge): Status => (g.exposed ? ok(g.value === 0) : "N/A");

/** The targets of issue 6, each as PASS / MISS (N/A when the daemon exposes nothing to measure). */
export function evaluate(r: AllResults): Check[] {
  const checks: Check[] = [];
  const add = (scenario: string, kind: Check["kind"], what: string, measured: string, status: Status): void => {
    checks.push({ scenario, kind, what, measured, status });
  };

  if (r.cache !== undefined) {
    const c = r.cache;
    const top = c.ratios.at(-1)!;
    const at = `@${top.concurrency}`;
    add("cache", "target", `throughput ≥ 0.90 × no-op RPC ${at}`, `× ${fmt(top.brokerVsNoop, 3)}`, ok(top.brokerVsNoop >= 0.9));
    add("cache", "target", `throughput ≥ 0.80 × bare grpc-js echo ${at}`, `× ${fmt(top.brokerVsBare, 3)}`, ok(top.brokerVsBare >= 0.8));
    add("cache", "target", `p99 ≤ 2 × no-op p99 ${at}`, `× ${fmt(top.p99VsNoop, 3)}`, ok(top.p99VsNoop <= 2));
    const errors = c.cells.reduce((n, x) => n + x.errors, 0);
    const unverified = c.cells.filter((x) => !x.verified).length;
    add("cache", "sanity", "no errors; sampled answers decode; provider untouched", `${errors} errors, ${unverified} unverified, ${c.providerRequests} provider requests`, ok(errors === 0 && unverified === 0 && c.providerRequests === 0));
  }

  if (r.storm !== undefined) {
    const s = r.storm;
    add("storm", "target", "exactly 1 provider refresh", `${s.providerRefreshes} (${s.providerTokenRequests} token requests)`, ok(s.providerRefreshes === 1 && s.providerTokenRequests === 1));
    const limit = s.providerLatencyMs + 50;
    add("storm", "target", `callers' p99 ≤ provider latency + 50 ms (${limit} ms)`, `${fmt(s.p99Ms, 1)} ms`, ok(s.p99Ms <= limit));
    const above = s.p99Ms - s.floor.p99Ms;
    add("storm", "floor", `p99 − echo-burst floor p99 ≤ provider latency + 50 ms`, `${fmt(s.p99Ms, 1)} − ${fmt(s.floor.p99Ms, 1)} = ${fmt(above, 1)} ms`, ok(above <= limit));
    add("storm", "sanity", "no errors, no replay, one shared fresh token", `${s.errors} errors, ${s.providerReplays} replays, ${s.distinctTokens} token(s), ${s.staleAnswers} stale`, ok(s.errors === 0 && s.providerReplays === 0 && s.distinctTokens === 1 && s.staleAnswers === 0));
    add("storm", "sanity", "lock map empty after", lockText(s.lockMapAfter), lockStatus(s.lockMapAfter));
  }

  if (r.mass !== undefined) {
    const m = r.mass;
    add("mass", "target", "0 errors", `${m.errors}`, ok(m.errors === 0));
    add("mass", "target", `peak provider concurrency ≤ limit (${m.limit})`, `${m.peakProviderConcurrency}`, ok(m.peakProviderConcurrency <= m.limit));
    add("mass", "target", `time ≤ 1.2 × ideal (${fmt(m.idealMs / 1000, 2)} s)`, `${fmt(m.wallMs / 1000, 2)} s = × ${fmt(m.vsIdeal, 3)}`, ok(m.vsIdeal <= 1.2));
    add("mass", "sanity", "one refresh per key, no replay, fresh answers", `${m.providerRefreshes}/${m.keys} refreshes, ${m.providerReplays} replays, ${m.staleAnswers} stale`, ok(m.providerRefreshes === m.keys && m.providerReplays === 0 && m.staleAnswers === 0));
    add("mass", "sanity", "lock map empty after", lockText(m.lockMapAfter), lockStatus(m.lockMapAfter));
  }

  if (r.scale !== undefined) {
    const s = r.scale;
    add("scale", "target", `p99 with ${s.largeLinks} links ≤ 1.10 × with ${s.smallLinks}`, `${fmt(s.largeP99Ms, 2)} vs ${fmt(s.smallP99Ms, 2)} ms = × ${fmt(s.p99Ratio, 3)}`, ok(s.p99Ratio <= 1.1));
    const rss = s.largeMemoryAfterLoad?.rssMb;
    add("scale", "target", `RSS ≤ 150 MB after load, ${s.largeLinks} links all in the record cache (issue 24)`, rss === undefined ? "unreadable" : `${fmt(rss, 0)} MB (peak ${fmt(s.largeMemoryAfterLoad?.hwmMb, 0)} MB; ${fmt(s.largeMemorySettled?.rssMb, 0)} MB ${fmt(s.settledForMs / 1000, 0)} s later; floor: bare grpc-js ${fmt(s.bareMemoryAfterLoad?.rssMb, 0)} MB after the same load)`, rss === undefined ? "N/A" : ok(rss <= 150));
    const idle = s.smallMemoryAtStart?.rssMb;
    add("scale", "target", "idle RSS ≤ 70 MB (a fresh daemon, just serving)", idle === undefined ? "unreadable" : `${fmt(idle, 0)} MB`, idle === undefined ? "N/A" : ok(idle <= 70));
    const rested = s.idleMemoryAfter?.rssMb;
    add("scale", "target", `idle RSS ≤ 70 MB (an empty daemon left idle ${fmt(s.idleForMs / 1000, 0)} s)`, rested === undefined ? "unreadable" : `${fmt(rested, 0)} MB`, rested === undefined ? "N/A" : ok(rested <= 70));
    add("scale", "target", `spawn → SERVING ≤ 300 ms with ${s.largeLinks} links`, `${fmt(s.largeStartupMs, 0)} ms (empty store ${fmt(s.smallStartupMs, 0)} ms)`, ok(s.largeStartupMs <= 300));
    add("scale", "target", "per-key lock map empty after the run", lockText(s.lockMapAfter), lockStatus(s.lockMapAfter));
    const errors = s.runs.reduce((n, x) => n + x.errors, 0);
    add("scale", "sanity", "seeding and load without errors", `${s.seedErrors} seed errors, ${errors} call errors`, ok(s.seedErrors === 0 && errors === 0));
  }

  if (r.fleet !== undefined) {
    const { cache, storm } = r.fleet;
    add("fleet", "target", `storm over ${r.fleet.daemons} daemons: exactly 1 provider refresh`, `${storm.providerRefreshes} (${storm.providerTokenRequests} token requests)`, ok(storm.providerRefreshes === 1 && storm.providerTokenRequests === 1));
    add("fleet", "sanity", "storm: no errors, no replay, fresh answers, one token per daemon", `${storm.errors} errors, ${storm.providerReplays} replays, ${storm.staleAnswers} stale, ${storm.distinctTokensPerDaemon} token(s)`, ok(storm.errors === 0 && storm.providerReplays === 0 && storm.staleAnswers === 0 && storm.distinctTokensPerDaemon === 1));
    add("fleet", "sanity", "cache hits: no errors, provider untouched", `${cache.errors} errors, ${cache.providerRequests} provider requests`, ok(cache.errors === 0 && cache.providerRequests === 0));
  }
  for (const c of r.git !== undefined ? gitCredentialChecks(r.git) : []) add(c.scenario, c.kind, c.what, c.measured, ok(c.ok));
  for (const c of h2Checks(r.h2load, r.h2storm)) add(c.scenario, c.kind, c.what, c.measured, ok(c.ok));
  return checks;
}
