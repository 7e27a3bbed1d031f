/**
 * The refresh protocol explored, not sampled (docs/design.md §3.3): seeded
 * schedules of callers, pauses, crashes, cut-off stores and providers,
 * stepped clocks and odd answers against several engines on one store, each
 * checked for (a) no replay, (b) nothing lost, (c) nothing replaced or
 * expired served, (d) history never going back, (e) every caller answered;
 * then as many fault-free schedules, also checked for (f) no link in use
 * going without a valid token (sim/liveness.ts).
 * Fixed seeds, so a run is reproducible: a failure prints the seed, the
 * path and the shrunk command list (replay with `npm run sim -- --seed S
 * --path P`). Two files of this size run side by side on CI's two cores.
 */
import { expect, it } from "vitest";
import { openMemoryStore } from "../../src/store/memory/index.js";
import { explore } from "../../sim/explore.js";

const SCHEDULES_PER_FILE = 5_000;

it(`${SCHEDULES_PER_FILE} schedules from seed 20261206 keep every check`, async () => {
  const r = await explore({ runs: SCHEDULES_PER_FILE, seed: 20261206, openDb: (clock) => openMemoryStore({ clock }).links });
  expect(r.failed, r.report).toBe(false);
  expect(r.runs).toBe(SCHEDULES_PER_FILE);
}, 120_000);
