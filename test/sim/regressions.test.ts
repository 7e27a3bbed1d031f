/**
 * Every failure the simulation found (sim/regressions.ts), replayed as a
 * named example: each must keep every check (a)–(e) and its own expected
 * answers. docs/design.md §3 invariants 7 and 10–13.
 */
import { describe, expect, it } from "vitest";
import { openMemoryStore } from "../../src/store/memory/index.js";
import { regressions, unmetExpectations } from "../../sim/regressions.js";
import { runSchedule } from "../../sim/run.js";

describe("simulation regressions", () => {
  for (const r of regressions) {
    it(r.name, async () => {
      const result = await runSchedule(r.schedule, (clock) => openMemoryStore({ clock }).links, true);
      const problems = [...result.violations.map((v) => `(${v.check}) ${v.detail}`), ...unmetExpectations(r, result)];
      expect(problems, `found by: ${r.found}`).toEqual([]);
    });
  }
});
