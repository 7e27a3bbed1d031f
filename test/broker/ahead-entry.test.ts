/**
 * The background refresher's entries (src/broker/ahead-entry.ts) keep their
 * numbers in rows of a shared table: every field reads back what was last
 * written to it, whatever other entries are made, written, dropped and
 * collected meanwhile (the table grows, rows are given back and reused), and
 * a row is reused only once the entry that had it is gone.
 */
import { setFlagsFromString } from "node:v8";
import { runInNewContext } from "node:vm";
import fc from "fast-check";
import { describe, expect, it } from "vitest";
import { AheadEntry, AheadTable } from "../../src/broker/ahead-entry.js";

setFlagsFromString("--expose-gc");
const gc = runInNewContext("gc") as () => void;
/** A full collection, then a task turn, in which V8 runs the FinalizationRegistry's callbacks. */
async function collect(): Promise<void> {
  gc();
  await new Promise((r) => setTimeout(r, 0));
}

const NUMBER_FIELDS = ["lastUsedAt", "minValidMs", "minValidAt", "version", "fraction", "updatedAt", "dueAt", "notBefore", "deadline", "ownLatest", "latest", "planned"] as const;
const NULLABLE_FIELDS = ["expiresAt", "lastRefreshedAt"] as const;
const INT_FIELDS = ["holds", "heapIndex", "failures"] as const;
const FLAG_FIELDS = ["timed", "busy"] as const;
type Model = Record<string, number | boolean | null | string>;

function modelOf(providerId: string, userId: string, lastUsedAt: number, minValidMs: number, now: number, fraction: number): Model {
  const inf = Number.POSITIVE_INFINITY;
  return {
    providerId, userId, lastUsedAt, minValidMs, minValidAt: now, version: -1, fraction,
    expiresAt: null, lastRefreshedAt: null, updatedAt: 0, dueAt: inf, notBefore: 0, deadline: inf, ownLatest: inf, latest: inf,
    planned: Number.NaN, holds: 0, heapIndex: -1, failures: 0, timed: false, busy: false,
  };
}

function read(e: AheadEntry): Model {
  const out: Model = { providerId: e.providerId, userId: e.userId };
  for (const f of [...NUMBER_FIELDS, ...NULLABLE_FIELDS, ...INT_FIELDS, ...FLAG_FIELDS]) out[f] = e[f];
  return out;
}

function make(table: AheadTable, n: number, lastUsedAt = 1000): AheadEntry {
  return new AheadEntry(table, "p", `u${n}`, lastUsedAt, 5, 7);
}

const double = fc.oneof(
  fc.double({ noNaN: false }),
  fc.constantFrom(Number.POSITIVE_INFINITY, Number.NEGATIVE_INFINITY, -0, 1.8e12, 1.8e12 + 0.5),
);
const op = fc.oneof(
  fc.record({ kind: fc.constant("new" as const), count: fc.integer({ min: 1, max: 200 }) }),
  fc.record({ kind: fc.constant("drop" as const), at: fc.nat(), count: fc.integer({ min: 1, max: 200 }) }),
  fc.record({ kind: fc.constant("number" as const), at: fc.nat(), field: fc.constantFrom(...NUMBER_FIELDS), value: double }),
  fc.record({ kind: fc.constant("nullable" as const), at: fc.nat(), field: fc.constantFrom(...NULLABLE_FIELDS), value: fc.option(fc.double({ noNaN: true }), { nil: null }) }),
  fc.record({ kind: fc.constant("int" as const), at: fc.nat(), field: fc.constantFrom(...INT_FIELDS), value: fc.integer({ min: -1, max: 2 ** 31 - 1 }) }),
  fc.record({ kind: fc.constant("flag" as const), at: fc.nat(), field: fc.constantFrom(...FLAG_FIELDS), value: fc.boolean() }),
  fc.record({ kind: fc.constant("collect" as const) }),
);

describe("AheadEntry", () => {
  it("starts with the defaults it is given: no record times, nothing scheduled, not busy", () => {
    const e = new AheadEntry(new AheadTable(), "prov", "user", Number.NEGATIVE_INFINITY, 0, 42);
    expect(read(e)).toEqual(modelOf("prov", "user", Number.NEGATIVE_INFINITY, 0, 42, 0.8));
  });

  it("reads back every field as last written, across growth, drops, collections and row reuse (model-based)", async () => {
    await fc.assert(
      fc.asyncProperty(fc.array(op, { minLength: 1, maxLength: 40 }), async (ops) => {
        const table = new AheadTable();
        let live: { entry: AheadEntry; model: Model }[] = [];
        let n = 0;
        for (const o of ops) {
          if (o.kind === "new") {
            for (let k = 0; k < o.count; k++, n++) live.push({ entry: make(table, n, n), model: modelOf("p", `u${n}`, n, 5, 7, 0.8) });
          } else if (o.kind === "drop") {
            if (live.length > 0) live.splice(o.at % live.length, o.count);
          } else if (o.kind === "collect") {
            await collect();
          } else if (live.length > 0) {
            const slot = live[o.at % live.length]!;
            (slot.entry as unknown as Record<string, unknown>)[o.field] = o.value;
            slot.model[o.field] = o.value;
          }
          // Every live entry, not only the one written: a shared or reused row would show in another's fields.
          for (const { entry, model } of live) expect(read(entry)).toEqual(model);
        }
        live = [];
      }),
      { numRuns: 60 },
    );
  });

  it("gives a row back once its entry is collected, never while it is reachable", async () => {
    const table = new AheadTable();
    const kept = Array.from({ length: 500 }, (_, i) => make(table, i));
    let dropped: AheadEntry[] | undefined = Array.from({ length: 1500 }, (_, i) => make(table, 500 + i));
    expect(table.rows).toBe(2000);
    for (const [i, e] of kept.entries()) e.dueAt = i;
    dropped = undefined;
    await collect();
    // The 1,500 unreachable entries' rows came back; the 500 reachable ones kept theirs.
    expect(table.rows).toBe(500);
    // New entries take the freed rows and leave the kept entries' values alone.
    const fresh = Array.from({ length: 1500 }, (_, i) => make(table, 2000 + i, -1));
    for (const e of fresh) e.dueAt = -5;
    expect(table.rows).toBe(2000);
    for (const [i, e] of kept.entries()) expect(e.dueAt).toBe(i);
    for (const e of fresh) expect(read(e)).toMatchObject({ dueAt: -5, lastUsedAt: -1, heapIndex: -1, holds: 0 });
    expect(dropped).toBeUndefined();
  });
});
