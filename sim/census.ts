/**
 * Every kind of failure a batch of schedules finds, not only the first:
 * generates `runs` schedules from `seed`, runs each, and groups the
 * violations by kind with the first schedule that showed each. A schedule's
 * index i replays (and shrinks) with `npm run sim -- --seed S --path i`.
 */
import fc from "fast-check";
import { scheduleArb } from "./commands.js";
import { runSchedule, type Coverage, type OpenDb } from "./run.js";

export interface CensusEntry {
  kind: string;
  count: number;
  /** The first schedule (its index in the batch) that showed it. */
  first: number;
  detail: string;
}

export interface Census {
  failures: CensusEntry[];
  /** Summed over the batch: what the checks had to judge. */
  coverage: Coverage;
}

export async function census(runs: number, seed: number, openDb: OpenDb): Promise<Census> {
  const schedules = fc.sample(scheduleArb, { numRuns: runs, seed });
  const byKind = new Map<string, CensusEntry>();
  const coverage: Coverage = { providerRequests: 0, heals: 0, failuresRecorded: 0, refreshedAhead: 0, outcomes: {} };
  for (const [i, s] of schedules.entries()) {
    const r = await runSchedule(s, openDb, true);
    const seen = new Set<string>();
    coverage.providerRequests += r.coverage.providerRequests;
    coverage.heals += r.coverage.heals;
    coverage.refreshedAhead += r.coverage.refreshedAhead;
    coverage.failuresRecorded += r.coverage.failuresRecorded;
    for (const [o, n] of Object.entries(r.coverage.outcomes)) coverage.outcomes[o] = (coverage.outcomes[o] ?? 0) + n;
    for (const v of r.violations) {
      const kind = `(${v.check}) ${v.kind ?? v.detail}`;
      if (seen.has(kind)) continue; // count schedules, not repeats within one
      seen.add(kind);
      const entry = byKind.get(kind);
      if (entry === undefined) byKind.set(kind, { kind, count: 1, first: i, detail: v.detail });
      else entry.count++;
    }
  }
  return { failures: [...byKind.values()].sort((a, b) => b.count - a.count), coverage };
}
