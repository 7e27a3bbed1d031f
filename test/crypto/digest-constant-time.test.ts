import { beforeEach, describe, expect, it, vi } from "vitest";

// Replace node:crypto's timingSafeEqual with a spy that still does the real
// comparison, to prove digestMatches goes through it rather than `===`.
vi.mock("node:crypto", async (importOriginal) => {
  const actual = await importOriginal<typeof import("node:crypto")>();
  return { ...actual, timingSafeEqual: vi.fn((a: NodeJS.ArrayBufferView, b: NodeJS.ArrayBufferView) => actual.timingSafeEqual(a, b)) };
});

const { timingSafeEqual } = await import("node:crypto");
const { AesSealer, Keyring } = await import("../../src/crypto/index.js");
const { TOKEN, masterKey } = await import("./fixtures.js");

describe("digestMatches", () => {
  const sealer = new AesSealer(new Keyring([masterKey()]));
  // Braces matter: a function returned from beforeEach is run as its teardown.
  beforeEach(() => {
    vi.mocked(timingSafeEqual).mockClear();
  });

  it("compares with timingSafeEqual on both match and mismatch", () => {
    const d = sealer.digest(TOKEN);
    expect(sealer.digestMatches(d, TOKEN)).toBe(true);
    expect(sealer.digestMatches(d, "another token")).toBe(false);
    expect(vi.mocked(timingSafeEqual)).toHaveBeenCalledTimes(2);
    for (const [a, b] of vi.mocked(timingSafeEqual).mock.calls) {
      expect((a as Buffer).length).toBe(32);
      expect((b as Buffer).length).toBe(32);
    }
  });
});
