/**
 * `npm run sim -- [--runs N] [--seed S] [--path P]`: explores N seeded
 * schedules (default 1,000) and prints the seed; a failure prints seed,
 * path and the shrunk command list, and exits 1. With --seed and --path it
 * replays that failure. Each batch is followed by as many fault-free
 * schedules, held to liveness as well (liveness.ts); --calm
 * explores (or, with --path, replays) only those. --census runs the batch to
 * the end and groups what failed by kind (census.ts).
 */
import { parseArgs } from "node:util";
import type { LinkStore } from "../src/store/link-store.js";
import { openMemoryStore } from "../src/store/memory/index.js";
import { census } from "./census.js";
import { explore } from "./explore.js";
import { regressions, unmetExpectations } from "./regressions.js";
import { runSchedule } from "./run.js";

const { values } = parseArgs({
  options: {
    runs: { type: "string", default: "1000" },
    seed: { type: "string" },
    path: { type: "string" },
    census: { type: "boolean", default: false },
    regressions: { type: "boolean", default: false },
    calm: { type: "boolean", default: false },
  },
  strict: true,
});
/** One in-memory database per run, on the clock the run gives it (the simulation's true time). */
const openDb = (clock: { now(): number }): LinkStore => openMemoryStore({ clock }).links;
const runs = Number(values.runs);
if (!Number.isSafeInteger(runs) || runs < 1) {
  process.stderr.write(`--runs must be a whole number >= 1 (got ${values.runs})\n`);
  process.exit(2);
}
const seed = values.seed === undefined ? Math.floor(Math.random() * 0x7fffffff) : Number(values.seed);
if (!Number.isSafeInteger(seed)) {
  process.stderr.write(`--seed must be an integer (got ${values.seed})\n`);
  process.exit(2);
}
if (values.regressions) {
  let failed = 0;
  for (const r of regressions) {
    const result = await runSchedule(r.schedule, openDb, true);
    const violations = [...result.violations, ...unmetExpectations(r, result).map((detail) => ({ check: "outcome", detail }))];
    failed += violations.length > 0 ? 1 : 0;
    process.stdout.write(`${violations.length === 0 ? "ok  " : "FAIL"} ${r.name}\n`);
    if (process.env.SIM_DEBUG) process.stdout.write(`       outcomes: ${JSON.stringify(result.outcomes)}\n`);
    for (const v of violations) process.stdout.write(`       (${v.check}) ${v.detail}\n`);
  }
  process.stdout.write(`${regressions.length - failed} passed, ${failed} failed\n`);
  process.exit(failed > 0 ? 1 : 0);
}
process.stdout.write(`sim: ${runs} schedules, seed ${seed}${values.path === undefined ? "" : `, path ${values.path}`}\n`);
const started = performance.now();
if (values.census) {
  // Every kind of failure in the batch, not only the first (no shrinking).
  const { failures: found, coverage } = await census(runs, seed, openDb);
  process.stdout.write(`coverage: ${coverage.providerRequests} provider requests, ${coverage.heals} heals, ${coverage.failuresRecorded} failures recorded, ${coverage.refreshedAhead} background refreshes; callers: ${JSON.stringify(coverage.outcomes)}\n`);
  for (const e of found) process.stdout.write(`${String(e.count).padStart(6)}  ${e.kind}\n        first: --seed ${seed} --path ${e.first}: ${e.detail}\n`);
  process.stdout.write(`${found.length} kinds of failure; ${((performance.now() - started) / 1000).toFixed(1)} s\n`);
  process.exit(found.length > 0 ? 1 : 0);
}
// A replay's path belongs to one family: the fault-free one with --calm, else the one with faults.
const only = values.calm ? "calm" : values.path !== undefined ? "faults" : undefined;
const result = await explore({ runs, seed, path: values.path, openDb, only });
process.stdout.write(`${result.report}\n${((performance.now() - started) / 1000).toFixed(1)} s\n`);
process.exit(result.failed ? 1 : 0);
