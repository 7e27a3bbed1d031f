import { describe, expect, it } from "vitest";
import { MAX_TOKEN_LIFETIME_SEC } from "../../src/oauth/index.js";
import { provider } from "./helpers.js";

const gh = (o: Record<string, unknown> = {}) => provider({ type: "github", ...o });

describe("provider rotation_grace", () => {
  it("defaults to none (0)", () => {
    expect(gh().rotationGraceMs).toBe(0);
  });

  it.each([
    ["0s", 0],
    ["30s", 30_000],
    ["1m30s", 90_000],
    ["1h", 3_600_000],
  ])("%s → %i ms", (value, ms) => {
    expect(gh({ rotation_grace: value }).rotationGraceMs).toBe(ms);
  });
});

describe("provider default_token_lifetime", () => {
  it("is unset unless configured (no expires_in then means: does not expire)", () => {
    expect("defaultTokenLifetimeSec" in gh()).toBe(false);
  });

  it.each([
    ["1s", 1],
    ["8h", 28_800],
    ["1500ms", 2], // whole seconds, rounded up as the normaliser rounds expires_in
    ["87600h", MAX_TOKEN_LIFETIME_SEC],
  ])("%s → %i s", (value, sec) => {
    expect(gh({ default_token_lifetime: value }).defaultTokenLifetimeSec).toBe(sec);
  });
});
