/**
 * The background refresher's schedule (src/broker/due-heap.ts): items come
 * out earliest first, whatever order they went in, equal times included; a
 * rescheduled item moves in place and a removed one never comes out; each
 * item is in the heap at most once, however often it is rescheduled.
 */
import fc from "fast-check";
import { describe, expect, it } from "vitest";
import { DueHeap } from "../../src/broker/due-heap.js";

type Item = { dueAt: number; heapIndex: number; id: number };
const item = (id: number, dueAt: number): Item => ({ id, dueAt, heapIndex: -1 });

function drain(heap: DueHeap<Item>): number[] {
  const out: number[] = [];
  for (let top = heap.peek(); top !== undefined; top = heap.peek()) {
    out.push(top.dueAt);
    heap.pop();
    expect(top.heapIndex).toBe(-1);
  }
  return out;
}

describe("DueHeap", () => {
  it("is empty at first, and after popping its last item", () => {
    const heap = new DueHeap<Item>();
    expect(heap.peek()).toBeUndefined();
    heap.set(item(1, 5));
    expect(heap.peek()).toMatchObject({ dueAt: 5, id: 1 });
    heap.pop();
    expect(heap.peek()).toBeUndefined();
  });

  it("yields 500 pseudo-random due times (with repeats) in ascending order", () => {
    const heap = new DueHeap<Item>();
    const times: number[] = [];
    let seed = 12345;
    for (let id = 0; id < 500; id++) {
      seed = (seed * 1103515245 + 12345) % 2 ** 31;
      const at = seed % 97; // many equal times
      times.push(at);
      heap.set(item(id, at));
    }
    expect(drain(heap)).toEqual([...times].sort((a, b) => a - b));
  });

  it("moves a rescheduled item in place: earlier, later, and the same item many times stays one item", () => {
    const heap = new DueHeap<Item>();
    const items = [30, 10, 20, 40].map((at) => item(at, at));
    for (const i of items) heap.set(i);
    const thirty = items[0]!;
    thirty.dueAt = 5;
    heap.set(thirty);
    expect(heap.peek()).toBe(thirty);
    for (let n = 0; n < 1000; n++) {
      thirty.dueAt = 50 + (n % 7);
      heap.set(thirty);
    }
    expect(heap.size).toBe(4);
    expect(heap.peek()?.dueAt).toBe(10);
    expect(drain(heap)).toEqual([10, 20, 40, 55]); // 50 + 999 % 7
  });

  it("a removed item never comes out, and removing it again (or one never in) changes nothing", () => {
    const heap = new DueHeap<Item>();
    const items = [3, 1, 4, 1, 5, 9, 2, 6].map((at, id) => item(id, at));
    for (const i of items) heap.set(i);
    heap.remove(items[1]!); // a 1
    heap.remove(items[1]!);
    heap.remove(item(99, 0));
    expect(heap.size).toBe(7);
    expect(drain(heap)).toEqual([1, 2, 3, 4, 5, 6, 9]);
  });

  it("matches a plain model under any mix of set, reschedule, remove and pop", () => {
    const op = fc.oneof(
      fc.record({ kind: fc.constant("set" as const), id: fc.nat(15), at: fc.integer({ min: 0, max: 40 }) }),
      fc.record({ kind: fc.constant("remove" as const), id: fc.nat(15) }),
      fc.record({ kind: fc.constant("pop" as const) }),
    );
    fc.assert(
      fc.property(fc.array(op, { maxLength: 200 }), (ops) => {
        const heap = new DueHeap<Item>();
        const items = Array.from({ length: 16 }, (_, id) => item(id, 0));
        const model = new Map<number, number>(); // id → due time, for the items in
        for (const o of ops) {
          if (o.kind === "set") {
            items[o.id]!.dueAt = o.at;
            heap.set(items[o.id]!);
            model.set(o.id, o.at);
          } else if (o.kind === "remove") {
            heap.remove(items[o.id]!);
            model.delete(o.id);
          } else {
            const top = heap.peek();
            heap.pop();
            if (top !== undefined) model.delete(top.id);
          }
          expect(heap.size).toBe(model.size);
          const min = Math.min(...model.values());
          expect(heap.peek()?.dueAt ?? Number.POSITIVE_INFINITY).toBe(min);
          // The heap property itself, through the slots the items carry: each item's parent is due no later.
          const at = new Map<number, Item>();
          for (const [id] of model) at.set(items[id]!.heapIndex, items[id]!);
          expect(at.size).toBe(model.size);
          for (const [i, it] of at) {
            expect(i).toBeGreaterThanOrEqual(0);
            expect(i).toBeLessThan(model.size);
            if (i > 0) expect(at.get((i - 1) >> 1)!.dueAt).toBeLessThanOrEqual(it.dueAt);
          }
        }
        expect(drain(heap)).toEqual([...model.values()].sort((a, b) => a - b));
      }),
      { numRuns: 300 },
    );
  });
});
