/**
 * The liveness judgment of the fault-free schedules (sim/liveness.ts): a gap
 * is a violation only when a caller had used the link early enough and
 * recently enough that its background refresh was due while in use — and the
 * fault-free schedules keep every link in use valid on today's engine.
 */
import { describe, expect, it } from "vitest";
import { openMemoryStore } from "../../src/store/memory/index.js";
import { explore } from "../../sim/explore.js";
import { LEAD_MS, unexplainedGaps } from "../../sim/liveness.js";

const K = 20_000;
const gap = { link: "u0", from: 100_000, to: 130_000 };

describe("unexplainedGaps", () => {
  it("flags a gap on a link used within keep_fresh_for of the expiry, at least LEAD_MS before it", () => {
    const v = unexplainedGaps([gap], [{ link: "u0", at: gap.from - K }], K);
    expect(v).toHaveLength(1);
    expect(v[0]).toMatchObject({ check: "liveness" });
    expect(v[0]!.detail).toContain("u0 had no valid access token for 30000 ms");
  });

  it("leaves a gap alone when the last use is older than keep_fresh_for, too close to the expiry, of another link, or refreshing ahead is off", () => {
    expect(unexplainedGaps([gap], [{ link: "u0", at: gap.from - K - 1 }], K)).toEqual([]);
    expect(unexplainedGaps([gap], [{ link: "u0", at: gap.from - LEAD_MS + 1 }], K)).toEqual([]);
    expect(unexplainedGaps([gap], [{ link: "u1", at: gap.from - 5_000 }], K)).toEqual([]);
    expect(unexplainedGaps([gap], [{ link: "u0", at: gap.from - 5_000 }], 0)).toEqual([]);
  });
});

it("2,000 fault-free schedules from seed 20261207 keep every link in use valid", async () => {
  const r = await explore({ runs: 2_000, seed: 20261207, only: "calm", openDb: (clock) => openMemoryStore({ clock }).links });
  expect(r.failed, r.report).toBe(false);
  expect(r.runs).toBe(2_000);
}, 120_000);
