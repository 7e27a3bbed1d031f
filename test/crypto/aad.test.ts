import { describe, expect, it } from "vitest";
import { encodeFields, sentinelAad, valueAad } from "../../src/crypto/aad.js";
import { ctx } from "./fixtures.js";

describe("AAD encoding", () => {
  it("is length-prefixed: 4-byte big-endian length, then UTF-8", () => {
    expect(encodeFields(["ab", "", "é"]).toString("hex")).toBe("00000002" + "6162" + "00000000" + "00000002" + "c3a9");
    expect(valueAad(ctx)).toEqual(encodeFields(["tokenbroker/v1", "links", "access_token", "github", "alice"]));
  });

  it("is injective where plain concatenation is not", () => {
    const seen = new Set<string>();
    const contexts = [
      ["ab", "c", "p", "u"],
      ["a", "bc", "p", "u"],
      ["abc", "", "p", "u"],
      ["", "abc", "p", "u"],
      ["t", "c", "pu", ""],
      ["t", "c", "p", "u"],
      ["t", "c", "", "pu"],
      ["t", "c\u0000", "p", "u"],
      ["t", "c", "\u0000p", "u"],
    ] as const;
    for (const [table, column, providerId, userId] of contexts) {
      seen.add(valueAad({ table, column, providerId, userId }).toString("hex"));
    }
    expect(seen.size).toBe(contexts.length);
  });

  it("keeps sentinels apart from any value", () => {
    expect(sentinelAad().equals(valueAad({ table: "", column: "", providerId: "", userId: "" }))).toBe(false);
  });

  it("refuses ill-formed Unicode, which would otherwise collide with U+FFFD", () => {
    expect(() => encodeFields(["\uD800"])).toThrow(TypeError);
    expect(() => encodeFields(["a\uDC00b"])).toThrow(TypeError);
    expect(() => encodeFields(["🔑"])).not.toThrow();
    expect(() => valueAad({ ...ctx, userId: "x\uDBFF" })).toThrow(/not well-formed/);
  });
});
