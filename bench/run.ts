/**
 * `npm run bench` (issue 6): the daemon as its own process, a forked
 * load-generator process driving it over the Unix socket with grpc-js, and
 * five scenarios — cache hit (vs the same server's no-op RPC, a bare grpc-js
 * echo server and Connect), refresh storm, mass expiry, scale, and a fleet of
 * four daemons on one PostgreSQL. Prints a
 * table, the targets as PASS / MISS, and writes bench/results.json.
 *
 *   npm run bench                      full run (≈ 4–5 minutes on 2 cores)
 *   node dist/bench/run.js --quick     ≈ 1 minute sanity run
 *   node dist/bench/run.js --only cache,storm --profile
 *
 * No token value is ever printed or written: results hold counts and timings.
 */
import { mkdirSync, mkdtempSync, rmSync } from "node:fs";
import { loadavg, tmpdir } from "node:os";
import { join } from "node:path";
import { buildInfo } from "./build-info.js";
import { LoadGen } from "./loadgen-handle.js";
import { machineInfo } from "./machine.js";
import { SCENARIOS, USAGE, parseOptions, type BenchOptions, type ScenarioName } from "./options.js";
import { formatReport, writeReport, type Contention, type Report } from "./report.js";
import { runCacheHit } from "./scenarios/cache-hit.js";
import { runH2Storm } from "./scenarios/h2load-storm.js";
import { runH2Throughput } from "./scenarios/h2load-throughput.js";
import type { ScenarioContext } from "./scenarios/context.js";
import { runMassExpiry } from "./scenarios/mass-expiry.js";
import { runMassExpiryAhead } from "./scenarios/mass-expiry-ahead.js";
import { runFleet } from "./scenarios/fleet.js";
import { runGitCredential } from "./scenarios/git-credential.js";
import { runScale } from "./scenarios/scale.js";
import { runStorm } from "./scenarios/storm.js";
import { evaluate, type AllResults } from "./targets.js";

const TITLES: Record<ScenarioName, string> = {
  h2load: "0. throughput by h2load (raw node:http2, bare grpc-js, Health, ObtainAccessToken)",
  h2storm: "2b. refresh storm sent by h2load",
  cache: "1. cache hit",
  storm: "2. refresh storm",
  mass: "3. mass expiry",
  scale: "4. scale",
  fleet: "5. fleet (4 daemons on one PostgreSQL)",
  git: "6. git credential helper start (vs node -e 0 and tokenbroker token)",
  "mass-ahead": "3b. mass expiry, refreshed ahead (at most 2,000 keys)",
};

async function main(): Promise<number> {
  let opts: BenchOptions;
  try {
    opts = parseOptions(process.argv.slice(2));
  } catch (err) {
    process.stderr.write(`bench: ${err instanceof Error ? err.message : String(err)}\n${USAGE}\n`);
    return 2;
  }
  const started = performance.now();
  const machine = machineInfo();
  const build = buildInfo(opts.cli);
  const log = (line: string): void => void process.stderr.write(`${line}\n`);
  const root = mkdtempSync(join(tmpdir(), "tb-bench-"));
  log(`bench: ${opts.quick ? "quick" : "full"} run of ${opts.only.join(", ")}; temp dir ${root}`);

  const loadgen = await LoadGen.start();
  const results: AllResults = {};
  const failures: string[] = [];
  try {
    for (const name of opts.only) {
      const dir = join(root, name);
      mkdirSync(dir, { mode: 0o700 });
      const ctx: ScenarioContext = { opts, loadgen, dir, log };
      const t0 = performance.now();
      log(`${TITLES[name]} ...`);
      try {
        if (name === "h2load") results.h2load = await runH2Throughput(ctx);
        else if (name === "h2storm") results.h2storm = await runH2Storm(ctx);
        else if (name === "cache") results.cache = await runCacheHit(ctx);
        else if (name === "storm") results.storm = await runStorm(ctx);
        else if (name === "mass") results.mass = await runMassExpiry(ctx);
        else if (name === "scale") results.scale = await runScale(ctx);
        else if (name === "git") results.git = await runGitCredential(ctx);
        else if (name === "mass-ahead") await runMassExpiryAhead(ctx);
        else {
          const fleet = await runFleet(ctx);
          if (fleet !== undefined) results.fleet = fleet;
        }
      } catch (err) {
        const message = err instanceof Error ? err.message : String(err);
        failures.push(`${name}: ${message}`);
        log(`  FAILED: ${message}`);
      }
      log(`  (${((performance.now() - t0) / 1000).toFixed(1)} s)`);
    }
  } finally {
    await loadgen.close();
    if (!opts.keepTemp) rmSync(root, { recursive: true, force: true });
  }

  const report: Report = {
    benchmark: "tokenbroker npm run bench (issue 6)",
    mode: opts.quick ? "quick" : opts.only.length < SCENARIOS.length ? "partial" : "full",
    scenarios: opts.only,
    machine,
    build,
    contention: contentionOf(results, opts.note),
    durationS: Math.round((performance.now() - started) / 100) / 10,
    options: { ...opts, out: undefined },
    results,
    checks: evaluate(results),
  };
  process.stdout.write(`\n${formatReport(report)}\n`);
  if (failures.length > 0) process.stdout.write(`\nFAILED scenarios:\n${failures.map((f) => `  ${f}`).join("\n")}\n`);
  writeReport(opts.out, report);
  process.stdout.write(`\nwrote ${opts.out} (${report.durationS} s)\n`);
  return failures.length > 0 ? 1 : 0;
}

function contentionOf(r: AllResults, note: string | undefined): Contention {
  const samples = [...(r.cache?.cells.map((c) => c.othersCores) ?? []), ...(r.scale?.runs.map((x) => x.othersCores) ?? []), ...(r.mass !== undefined ? [r.mass.othersCores] : [])];
  const mean = samples.length > 0 ? samples.reduce((a, b) => a + b, 0) / samples.length : 0;
  const max = samples.length > 0 ? Math.max(...samples) : 0;
  return {
    note,
    othersCoresMean: Math.round(mean * 1000) / 1000,
    othersCoresMax: Math.round(max * 1000) / 1000,
    loadavgAtEnd: loadavg().map((x) => Math.round(x * 100) / 100),
    contended: mean >= 0.2,
  };
}

main().then(
  (code) => process.exit(code),
  (err: unknown) => {
    process.stderr.write(`bench: ${err instanceof Error ? (err.stack ?? err.message) : String(err)}\n`);
    process.exit(1);
  },
);
