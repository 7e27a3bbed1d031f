import { beforeAll, describe, expect, it } from "vitest";
import type { FakeProvider } from "./fake-provider.js";
import { useFakeProvider } from "./scoped-fakes.js";

/** Whether anything still answers at `url`. */
async function answers(url: string): Promise<boolean> {
  try {
    await (await fetch(url)).arrayBuffer();
    return true;
  } catch {
    return false;
  }
}

describe("useFakeProvider lives as long as the scope that started it", () => {
  let fromBeforeAll: FakeProvider;
  let fromFirstTest: FakeProvider;
  beforeAll(async () => {
    fromBeforeAll = await useFakeProvider();
  });

  it("a test's fake answers while the test runs", async () => {
    fromFirstTest = await useFakeProvider();
    expect(await answers(fromFirstTest.tokenUrl)).toBe(true);
  });

  it("is closed once that test has finished; a beforeAll's fake outlives it", async () => {
    expect(await answers(fromFirstTest.tokenUrl)).toBe(false);
    expect(await answers(fromBeforeAll.tokenUrl)).toBe(true);
  });
});
