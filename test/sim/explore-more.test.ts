/** The second half of the suite's exploration (explore.test.ts), from another seed. */
import { expect, it } from "vitest";
import { openMemoryStore } from "../../src/store/memory/index.js";
import { explore } from "../../sim/explore.js";

/** As many as explore.test.ts: together the 10,000 of the suite. */
const SCHEDULES_PER_FILE = 5_000;

it(`${SCHEDULES_PER_FILE} schedules from seed 18 keep every check`, async () => {
  const r = await explore({ runs: SCHEDULES_PER_FILE, seed: 18, openDb: (clock) => openMemoryStore({ clock }).links });
  expect(r.failed, r.report).toBe(false);
  expect(r.runs).toBe(SCHEDULES_PER_FILE);
}, 120_000);
