/**
 * The background refresher's schedule (src/broker/due-heap.ts): items come
 * out earliest first, whatever order they went in, equal times included.
 */
import { describe, expect, it } from "vitest";
import { DueHeap } from "../../src/broker/due-heap.js";

function drain(heap: DueHeap<{ at: number; id: number }>): number[] {
  const out: number[] = [];
  for (let top = heap.peek(); top !== undefined; top = heap.peek()) {
    out.push(top.at);
    heap.pop();
  }
  return out;
}

describe("DueHeap", () => {
  it("is empty at first, and after popping its last item", () => {
    const heap = new DueHeap<{ at: number; id: number }>();
    expect(heap.peek()).toBeUndefined();
    heap.push({ at: 5, id: 1 });
    expect(heap.peek()).toEqual({ at: 5, id: 1 });
    heap.pop();
    expect(heap.peek()).toBeUndefined();
  });

  it("yields 500 pseudo-random due times (with repeats) in ascending order", () => {
    const heap = new DueHeap<{ at: number; id: number }>();
    const times: number[] = [];
    let seed = 12345;
    for (let id = 0; id < 500; id++) {
      seed = (seed * 1103515245 + 12345) % 2 ** 31;
      const at = seed % 97; // many equal times
      times.push(at);
      heap.push({ at, id });
    }
    expect(drain(heap)).toEqual([...times].sort((a, b) => a - b));
  });

  it("keeps order when pushes and pops interleave", () => {
    const heap = new DueHeap<{ at: number; id: number }>();
    for (const at of [30, 10, 20]) heap.push({ at, id: at });
    expect(heap.peek()?.at).toBe(10);
    heap.pop();
    heap.push({ at: 5, id: 5 });
    heap.push({ at: 25, id: 25 });
    expect(drain(heap)).toEqual([5, 20, 25, 30]);
  });
});
