/**
 * Every kind of failure a batch of schedules finds, not only the first:
 * generates `runs` schedules from `seed`, runs each, and groups the
 * violations by kind with the first schedule that showed each. A schedule's
 * index i replays (and shrinks) with `npm run sim -- --seed S --path i`.
 */
import fc from "fast-check";
import { scheduleArb } from "./commands.js";
import { runSchedule, type OpenDb } from "./run.js";

export interface CensusEntry {
  kind: string;
  count: number;
  /** The first schedule (its index in the batch) that showed it. */
  first: number;
  detail: string;
}

export async function census(runs: number, seed: number, openDb: OpenDb): Promise<CensusEntry[]> {
  const schedules = fc.sample(scheduleArb, { numRuns: runs, seed });
  const byKind = new Map<string, CensusEntry>();
  for (const [i, s] of schedules.entries()) {
    const r = await runSchedule(s, openDb, true);
    const seen = new Set<string>();
    for (const v of r.violations) {
      const kind = `(${v.check}) ${v.kind ?? v.detail}`;
      if (seen.has(kind)) continue; // count schedules, not repeats within one
      seen.add(kind);
      const entry = byKind.get(kind);
      if (entry === undefined) byKind.set(kind, { kind, count: 1, first: i, detail: v.detail });
      else entry.count++;
    }
  }
  return [...byKind.values()].sort((a, b) => b.count - a.count);
}
