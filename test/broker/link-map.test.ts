/**
 * The scheduler's map by link key (src/broker/link-map.ts) behaves as a Map
 * keyed by the pair (provider id, user id): checked against a Map keyed by
 * the pair's JSON over random operations, with ids that share prefixes and
 * hold the separator linkKeyId joins with, so two links whose joined keys
 * would be equal ("a\0" + "b", "a" + "\0b") stay two.
 */
import fc from "fast-check";
import { describe, expect, it } from "vitest";
import { LinkMap } from "../../src/broker/link-map.js";
import type { LinkKey } from "../../src/store/link-store.js";

const id = fc.constantFrom("", "a", "ab", "a\0b", "b", "a\0", "\0b", "gh", "gh\0alice");
const key = fc.record({ providerId: id, userId: id });
const op = fc.oneof(
  fc.record({ kind: fc.constant("set" as const), key, value: fc.integer() }),
  fc.record({ kind: fc.constant("delete" as const), key }),
  fc.record({ kind: fc.constant("get" as const), key }),
);

describe("LinkMap", () => {
  it("matches a Map keyed by the pair: get, has, set, delete, size and values (model-based)", () => {
    fc.assert(
      fc.property(fc.array(op, { maxLength: 80 }), (ops) => {
        const map = new LinkMap<number>();
        const model = new Map<string, number>();
        for (const o of ops) {
          const k = JSON.stringify([o.key.providerId, o.key.userId]);
          if (o.kind === "set") {
            map.set(o.key, o.value);
            model.set(k, o.value);
          } else if (o.kind === "delete") {
            expect(map.delete(o.key)).toBe(model.delete(k));
          }
          expect(map.get(o.key)).toBe(model.get(k));
          expect(map.has(o.key)).toBe(model.has(k));
          expect(map.size).toBe(model.size);
          expect([...map.values()].sort((a, b) => a - b)).toEqual([...model.values()].sort((a, b) => a - b));
        }
      }),
      { numRuns: 300 },
    );
  });

  it("keeps the key's strings, not the key object", () => {
    const map = new LinkMap<string>();
    const key: LinkKey = { providerId: "gh", userId: "alice" };
    map.set(key, "v");
    key.userId = "bob";
    expect(map.get({ providerId: "gh", userId: "alice" })).toBe("v");
    expect(map.get(key)).toBeUndefined();
  });
});
