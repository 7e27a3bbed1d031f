import { describe, expect, it } from "vitest";
import { LineBatch } from "../../src/audit/line-batch.js";

describe("audit lines are written once per turn (audit/line-batch.ts)", () => {
  it("lines added in one turn reach the sink in one write, and each line's promise settles only after it", async () => {
    const writes: string[] = [];
    const batch = new LineBatch((lines) => void writes.push(lines));
    const settled: number[] = [];
    const a = batch.add("a\n").then(() => settled.push(writes.length));
    const b = batch.add("b\n").then(() => settled.push(writes.length));
    expect(writes).toEqual([]);
    await Promise.all([a, b]);
    expect(writes).toEqual(["a\nb\n"]);
    // Both promises settled after the one write (writes.length was 1 for each).
    expect(settled).toEqual([1, 1]);
    await batch.add("c\n");
    expect(writes).toEqual(["a\nb\n", "c\n"]);
    batch.close();
  });

  it("close and flush write what is pending at once; a failing write still settles the batch", async () => {
    const writes: string[] = [];
    const batch = new LineBatch((lines) => void writes.push(lines));
    const pending = batch.add("x\n");
    batch.close();
    expect(writes).toEqual(["x\n"]);
    await pending;
    const failing = new LineBatch(() => {
      throw new Error("disk full");
    });
    const p = failing.add("y\n");
    expect(() => failing.flush()).toThrow("disk full");
    await expect(p).resolves.toBeUndefined();
    failing.close();
  });
});
