import { existsSync, writeFileSync } from "node:fs";
import { join } from "node:path";
import { beforeAll, describe, expect, it } from "vitest";
import { tempDir } from "./temp-dir.js";

describe("tempDir lives as long as the scope that made it", () => {
  let fromBeforeAll: string;
  let fromFirstTest: string;
  beforeAll(() => {
    fromBeforeAll = tempDir("tb-scope-all-");
  });

  it("a test's dir exists while the test runs", () => {
    fromFirstTest = tempDir("tb-scope-test-");
    writeFileSync(join(fromFirstTest, "f"), "x");
    expect(existsSync(join(fromFirstTest, "f"))).toBe(true);
  });

  it("is removed, with its files, once that test has finished; a beforeAll's dir outlives it", () => {
    expect(existsSync(fromFirstTest)).toBe(false);
    expect(existsSync(fromBeforeAll)).toBe(true);
  });
});
