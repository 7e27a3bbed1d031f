/**
 * Explores schedules with fast-check: generates configurations and command
 * lists, runs each (run.ts), and on a failure shrinks it to a short list
 * that replays from the printed seed and path. Two families from one seed:
 * schedules with faults, held to the safety checks (checks.ts), then as
 * many fault-free ones, held to those and to liveness (liveness.ts).
 */
import fc from "fast-check";
import type { Violation } from "./checks.js";
import { calmScheduleArb, describe, scheduleArb, type Schedule } from "./commands.js";
import { unexplainedGaps } from "./liveness.js";
import { runSchedule, type OpenDb } from "./run.js";

export interface ExploreOptions {
  runs: number;
  seed?: number | undefined;
  path?: string | undefined;
  openDb: OpenDb;
  /** Stop exploring (successfully) after this long, in real time. */
  timeLimitMs?: number | undefined;
  /** Only one family (a replay names the family its path belongs to); both by default. */
  only?: "faults" | "calm" | undefined;
}

export interface ExploreResult {
  failed: boolean;
  seed: number;
  path?: string | undefined;
  runs: number;
  /** The shrunk schedule and what it broke. */
  report: string;
  schedule?: Schedule | undefined;
  violations: Violation[];
}

class SimFailure extends Error {
  constructor(readonly violations: Violation[]) {
    super(violations.map((v) => `(${v.check}) ${v.detail}`).join("\n"));
  }
}

export async function explore(o: ExploreOptions): Promise<ExploreResult> {
  const faults = fc.asyncProperty(scheduleArb, async (s) => {
    const r = await runSchedule(s, o.openDb);
    if (r.violations.length > 0) throw new SimFailure(r.violations);
  });
  const calm = fc.asyncProperty(calmScheduleArb, async (s) => {
    const r = await runSchedule(s, o.openDb);
    const violations = [...r.violations, ...unexplainedGaps(r.gaps, r.uses, s.config.keepFreshForMs ?? 0)];
    if (violations.length > 0) throw new SimFailure(violations);
  });
  if (o.only === "calm") return check(calm, "calm", o.runs, o);
  const first = await check(faults, "faults", o.runs, o);
  if (first.failed || o.only === "faults") return first;
  const second = await check(calm, "calm", o.runs, o);
  if (second.failed) return second;
  return { ...first, report: `${first.report}; ${second.runs} fault-free schedules kept every link in use valid` };
}

async function check(property: fc.IAsyncProperty<[Schedule]>, family: "faults" | "calm", runs: number, o: ExploreOptions): Promise<ExploreResult> {
  const params: fc.Parameters<[Schedule]> = { numRuns: runs };
  if (o.seed !== undefined) params.seed = o.seed;
  if (o.path !== undefined) params.path = o.path;
  if (o.timeLimitMs !== undefined) params.interruptAfterTimeLimit = o.timeLimitMs;
  const d = await fc.check(property, params);
  if (!d.failed) return { failed: false, seed: d.seed, runs: d.numRuns, report: `${d.numRuns} schedules passed (seed ${d.seed})`, violations: [] };
  const schedule = d.counterexample?.[0];
  const err = d.errorInstance;
  const violations = err instanceof SimFailure ? err.violations : [{ check: "error", detail: String(err) }];
  const what = family === "calm" ? " fault-free" : "";
  const report = [
    `FAILED after ${d.numRuns}${what} schedules (${d.numShrinks} shrinks): seed ${d.seed} path ${d.counterexamplePath ?? "?"}`,
    `replay: npm run sim -- ${family === "calm" ? "--calm " : ""}--seed ${d.seed} --path ${d.counterexamplePath ?? "?"}`,
    ...violations.map((v) => `violation (${v.check}): ${v.detail}`),
    schedule === undefined ? "" : describe(schedule),
  ].join("\n");
  return { failed: true, seed: d.seed, path: d.counterexamplePath ?? undefined, runs: d.numRuns, report, schedule, violations };
}
