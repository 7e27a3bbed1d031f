/**
 * Explores schedules with fast-check: generates configurations and command
 * lists, runs each (run.ts), and on a failure shrinks it to a short list
 * that replays from the printed seed and path.
 */
import fc from "fast-check";
import type { Violation } from "./checks.js";
import { describe, scheduleArb, type Schedule } from "./commands.js";
import { runSchedule, type OpenDb } from "./run.js";

export interface ExploreOptions {
  runs: number;
  seed?: number | undefined;
  path?: string | undefined;
  openDb: OpenDb;
  /** Stop exploring (successfully) after this long, in real time. */
  timeLimitMs?: number | undefined;
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
  const property = fc.asyncProperty(scheduleArb, async (s) => {
    const r = await runSchedule(s, o.openDb);
    if (r.violations.length > 0) throw new SimFailure(r.violations);
  });
  const params: fc.Parameters<[Schedule]> = { numRuns: o.runs };
  if (o.seed !== undefined) params.seed = o.seed;
  if (o.path !== undefined) params.path = o.path;
  if (o.timeLimitMs !== undefined) params.interruptAfterTimeLimit = o.timeLimitMs;
  const d = await fc.check(property, params);
  if (!d.failed) return { failed: false, seed: d.seed, runs: d.numRuns, report: `${d.numRuns} schedules passed (seed ${d.seed})`, violations: [] };
  const schedule = d.counterexample?.[0];
  const err = d.errorInstance;
  const violations = err instanceof SimFailure ? err.violations : [{ check: "error", detail: String(err) }];
  const report = [
    `FAILED after ${d.numRuns} schedules (${d.numShrinks} shrinks): seed ${d.seed} path ${d.counterexamplePath ?? "?"}`,
    `replay: npm run sim -- --seed ${d.seed} --path ${d.counterexamplePath ?? "?"}`,
    ...violations.map((v) => `violation (${v.check}): ${v.detail}`),
    schedule === undefined ? "" : describe(schedule),
  ].join("\n");
  return { failed: true, seed: d.seed, path: d.counterexamplePath ?? undefined, runs: d.numRuns, report, schedule, violations };
}
