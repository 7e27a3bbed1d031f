import { describe, expect, it } from "vitest";
import { load, problems } from "./helpers.js";

describe("watch.max_streams_per_caller", () => {
  it("defaults to 64", () => {
    expect(load([]).watch).toEqual({ maxStreamsPerCaller: 64 });
  });

  it("takes a positive integer", () => {
    expect(load([], { watch: { max_streams_per_caller: 3 } }).watch).toEqual({ maxStreamsPerCaller: 3 });
  });

  it.each([0, -1, 1.5, "64"])("%j is refused, naming the field", (value) => {
    const found = problems([], { watch: { max_streams_per_caller: value } });
    expect(found).toHaveLength(1);
    expect(found[0]).toMatch(/^watch\.max_streams_per_caller: /);
  });

  it("an unknown key under watch is refused", () => {
    expect(problems([], { watch: { max_streams: 3 } })[0]).toMatch(/watch/);
  });
});
