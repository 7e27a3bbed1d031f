import { describe, expect, it } from "vitest";
import { onAbort } from "../../src/rpc/abort-fanout.js";

describe("one shutdown listener for every waiting call (rpc/abort-fanout.ts)", () => {
  it("calls each live subscriber once on abort, none that unsubscribed, and at once after the abort", () => {
    const controller = new AbortController();
    const seen: string[] = [];
    const offA = onAbort(controller.signal, () => seen.push("a"));
    onAbort(controller.signal, () => seen.push("b"));
    const offC = onAbort(controller.signal, () => seen.push("c"));
    offC();
    controller.abort();
    controller.abort();
    expect(seen).toEqual(["a", "b"]);
    offA();
    onAbort(controller.signal, () => seen.push("late"));
    expect(seen).toEqual(["a", "b", "late"]);
  });
});
