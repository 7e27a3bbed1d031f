import { describe, expect, it } from "vitest";
import { load, problems } from "./helpers.js";

describe("refresh.lease_ttl", () => {
  it("defaults to 15 s", () => {
    expect(load([]).refresh.leaseTtlMs).toBe(15_000);
  });

  it.each([
    ["1s", 1000],
    ["2s", 2000],
    ["10m", 600_000],
  ])("%s → %i ms", (value, ms) => {
    expect(load([], { refresh: { lease_ttl: value } }).refresh.leaseTtlMs).toBe(ms);
  });

  it("keeps the other refresh defaults when only it is set", () => {
    expect(load([], { refresh: { lease_ttl: "2s" } }).refresh).toMatchObject({ timeoutMs: 10_000, budgetMs: 10_000, minValidForMs: 60_000 });
  });

  it.each([
    ["999ms", "refresh.lease_ttl: must be at least 1s"],
    ["0s", "refresh.lease_ttl: must be at least 1s"],
    ["10m1s", "refresh.lease_ttl: must be at most 10m"],
    ["1h", "refresh.lease_ttl: must be at most 10m"],
  ])("%s is refused", (value, problem) => {
    expect(problems([], { refresh: { lease_ttl: value } })).toEqual([problem]);
  });

  it("a non-duration names the field", () => {
    expect(problems([], { refresh: { lease_ttl: "15" } })).toEqual(["refresh.lease_ttl: not a duration (use e.g. 250ms, 10s, 5m)"]);
  });
});
