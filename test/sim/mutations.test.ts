/**
 * Each deliberate defect of sim/mutations.ts, applied to a copy of src/ and
 * sim/ (under var/mutants/, loaded through vitest's own TypeScript
 * transform), must be caught by the simulation: by a named regression, or
 * else by exploring seeded schedules. A mutant that survives means a check
 * or a command is missing from the simulation.
 */
import { cpSync, mkdirSync, readFileSync, rmSync, writeFileSync } from "node:fs";
import { join, resolve } from "node:path";
import { pathToFileURL } from "node:url";
import { describe, expect, it } from "vitest";
import { mutations, type Mutation } from "../../sim/mutations.js";

const ROOT = resolve(import.meta.dirname, "../..");
/** Schedules explored per mutant when no regression catches it. */
const EXPLORE_RUNS = 3_000;
/** Fault-free schedules explored for a liveness mutant, which must catch it without the regressions. */
const CALM_RUNS = 3_000;

interface SimModules {
  regressions: typeof import("../../sim/regressions.js");
  run: typeof import("../../sim/run.js");
  explore: typeof import("../../sim/explore.js");
  memory: typeof import("../../src/store/memory/index.js");
}

function mutant(m: Mutation): string {
  const dir = join(ROOT, "var", "mutants", m.name.replace(/[^a-z0-9]+/gi, "-").toLowerCase());
  rmSync(dir, { recursive: true, force: true });
  mkdirSync(dir, { recursive: true });
  for (const part of ["src", "sim", "gen"]) cpSync(join(ROOT, part), join(dir, part), { recursive: true });
  for (const edit of m.edits) {
    const file = join(dir, edit.file);
    const text = readFileSync(file, "utf8");
    const at = text.indexOf(edit.from);
    if (at < 0 || text.indexOf(edit.from, at + 1) >= 0) throw new Error(`mutation "${m.name}": ${edit.file} must hold its text exactly once`);
    writeFileSync(file, text.slice(0, at) + edit.to + text.slice(at + edit.from.length));
  }
  return dir;
}

async function load(dir: string): Promise<SimModules> {
  const at = (p: string): string => pathToFileURL(join(dir, p)).href;
  return {
    regressions: (await import(at("sim/regressions.ts"))) as SimModules["regressions"],
    run: (await import(at("sim/run.ts"))) as SimModules["run"],
    explore: (await import(at("sim/explore.ts"))) as SimModules["explore"],
    memory: (await import(at("src/store/memory/index.ts"))) as SimModules["memory"],
  };
}

/** What caught the mutant, or undefined when it survived. */
async function caughtBy(s: SimModules): Promise<string | undefined> {
  const openDb = (clock: { now(): number }) => s.memory.openMemoryStore({ clock }).links;
  for (const r of s.regressions.regressions) {
    const result = await s.run.runSchedule(r.schedule, openDb, true);
    if (result.violations.length > 0 || s.regressions.unmetExpectations(r, result).length > 0) return `regression "${r.name}"`;
  }
  const explored = await s.explore.explore({ runs: EXPLORE_RUNS, seed: 7, openDb });
  return explored.failed ? `exploration: ${explored.report.split("\n")[0]}` : undefined;
}

describe("the simulation catches every deliberate defect", () => {
  it("the unmutated copy passes (so a catch below is the mutation's doing)", async () => {
    const s = await load(mutant({ name: "none", edits: [] }));
    expect(await caughtBy(s)).toBeUndefined();
  }, 120_000);

  for (const m of mutations) {
    it(m.name, async () => {
      const by = await caughtBy(await load(mutant(m)));
      console.info(`mutant "${m.name}": caught by ${by ?? "nothing"}`);
      expect(by, `mutant "${m.name}" survived ${EXPLORE_RUNS} schedules`).toBeDefined();
    }, 120_000);
    if (m.calm) {
      it(`${m.name}: caught by the fault-free schedules alone`, async () => {
        const s = await load(mutant(m));
        const explored = await s.explore.explore({ runs: CALM_RUNS, seed: 7, openDb: (clock) => s.memory.openMemoryStore({ clock }).links, only: "calm" });
        expect(explored.failed, `survived ${CALM_RUNS} fault-free schedules`).toBe(true);
        expect(explored.violations.some((v) => v.check === "liveness")).toBe(true);
      }, 120_000);
    }
  }
});
