import { describe, expect, it } from "vitest";
import {
  FALLBACK_TOKEN_LIFETIME_SEC,
  MAX_TOKEN_LIFETIME_SEC,
  isErrorAnswer,
  normalizeTokenResponse,
  type NormalizeProvider,
} from "../../src/oauth/token-normalize.js";

const plain: NormalizeProvider = { extraTokenKeys: [] };
const withDefault: NormalizeProvider = { extraTokenKeys: [], defaultTokenLifetimeSec: 28_800 };
const ok = { access_token: "at", token_type: "bearer" };

const lifetime = (expires_in: unknown, p: NormalizeProvider = plain) => normalizeTokenResponse({ ...ok, expires_in }, p).expiresInSec;

describe("normalizeTokenResponse: expires_in", () => {
  it.each<[string, unknown, number | undefined, number | undefined]>([
    // [what, expires_in, without a default, with default 28800]
    ["a whole number", 3600, 3600, 3600],
    ["a numeric string", "3600", 3600, 3600],
    ["a numeric string with spaces", " 120 ", 120, 120],
    ["a tiny fraction rounds up to 1", 0.0005, 1, 1],
    ["a fraction rounds up", 59.2, 60, 60],
    ["a fractional string", "1.5", 2, 2],
    ["an exponent string", "1e3", 1000, 1000],
    ["1e16 is capped at 10 years", 1e16, MAX_TOKEN_LIFETIME_SEC, MAX_TOKEN_LIFETIME_SEC],
    ["1e300 is capped at 10 years", 1e300, MAX_TOKEN_LIFETIME_SEC, MAX_TOKEN_LIFETIME_SEC],
    ["exactly 10 years stays", MAX_TOKEN_LIFETIME_SEC, MAX_TOKEN_LIFETIME_SEC, MAX_TOKEN_LIFETIME_SEC],
    ["absent: does not expire, or the default", undefined, undefined, 28_800],
    ["null: as absent", null, undefined, 28_800],
    ['"": as absent', "", undefined, 28_800],
    ["0", 0, FALLBACK_TOKEN_LIFETIME_SEC, 28_800],
    ["-100", -100, FALLBACK_TOKEN_LIFETIME_SEC, 28_800],
    ['"-100"', "-100", FALLBACK_TOKEN_LIFETIME_SEC, 28_800],
    ['"abc"', "abc", FALLBACK_TOKEN_LIFETIME_SEC, 28_800],
    ['"Infinity"', "Infinity", FALLBACK_TOKEN_LIFETIME_SEC, 28_800],
    ['"1e400" (overflows)', "1e400", FALLBACK_TOKEN_LIFETIME_SEC, 28_800],
    ["Infinity (JSON 1e400)", Infinity, FALLBACK_TOKEN_LIFETIME_SEC, 28_800],
    ["NaN", NaN, FALLBACK_TOKEN_LIFETIME_SEC, 28_800],
    ["true", true, FALLBACK_TOKEN_LIFETIME_SEC, 28_800],
    ["an object", { seconds: 60 }, FALLBACK_TOKEN_LIFETIME_SEC, 28_800],
    ["an array", [60], FALLBACK_TOKEN_LIFETIME_SEC, 28_800],
    ["hex string", "0x10", FALLBACK_TOKEN_LIFETIME_SEC, 28_800],
  ])("%s", (_what, value, expected, expectedWithDefault) => {
    expect(lifetime(value)).toBe(expected);
    expect(lifetime(value, withDefault)).toBe(expectedWithDefault);
  });

  it("never yields NaN, Infinity, a fraction, zero or more than 10 years", () => {
    const odd: unknown[] = [0, -0, -1, 1e-300, 0.5, 1e308, Number.MAX_VALUE, Number.MIN_VALUE, -Infinity, "  ", "1.", ".5", "+7", "--1", {}, [], false];
    for (const v of odd) {
      for (const p of [plain, withDefault, { extraTokenKeys: [], defaultTokenLifetimeSec: 0.4 }, { extraTokenKeys: [], defaultTokenLifetimeSec: NaN }]) {
        const sec = lifetime(v, p);
        expect(Number.isSafeInteger(sec), `${String(v)} → ${sec}`).toBe(true);
        expect(sec).toBeGreaterThanOrEqual(1);
        expect(sec).toBeLessThanOrEqual(MAX_TOKEN_LIFETIME_SEC);
      }
    }
  });

  it("a default outside the range is used whole and in range, or ignored", () => {
    expect(lifetime(undefined, { extraTokenKeys: [], defaultTokenLifetimeSec: 0.4 })).toBe(1);
    expect(lifetime(undefined, { extraTokenKeys: [], defaultTokenLifetimeSec: 1e12 })).toBe(MAX_TOKEN_LIFETIME_SEC);
    expect(lifetime(undefined, { extraTokenKeys: [], defaultTokenLifetimeSec: -5 })).toBeUndefined();
    expect(lifetime("abc", { extraTokenKeys: [], defaultTokenLifetimeSec: -5 })).toBe(FALLBACK_TOKEN_LIFETIME_SEC);
  });
});

describe("normalizeTokenResponse: token_type", () => {
  it.each<[string, unknown, string]>([
    ["Bearer is lower-cased", "Bearer", "bearer"],
    ["DPoP", "DPoP", "dpop"],
    ["Slack's user", "user", "user"],
    ["Slack's bot", "bot", "bot"],
    ["JFrog's access_token", "access_token", "access_token"],
    ["absent", undefined, "bearer"],
    ["null", null, "bearer"],
    ["empty", "", "bearer"],
    ["a number", 5, "bearer"],
    ["an object", { type: "bearer" }, "bearer"],
    ["300 characters", "b".repeat(300), "bearer"],
    ["prose with spaces", "a bearer token", "bearer"],
    ["control characters", "bear\ner", "bearer"],
  ])("%s → %s", (_what, token_type, expected) => {
    expect(normalizeTokenResponse({ access_token: "at", token_type }, plain).tokenType).toBe(expected);
  });
});

describe("normalizeTokenResponse: the tokens", () => {
  it.each<[string, unknown, string]>([
    ["a string", "at-1", "at-1"],
    ["a number", 12345, "12345"],
    ["a big integer, in plain digits", 1e21, "1000000000000000000000"],
    ["absent", undefined, ""],
    ["empty", "", ""],
    ["null", null, ""],
    ["an object", { token: "x" }, ""],
    ["Infinity", Infinity, ""],
  ])("access_token %s → %j", (_what, access_token, expected) => {
    expect(normalizeTokenResponse({ access_token, refresh_token: "rt" }, plain).accessToken).toBe(expected);
  });

  it.each<[string, unknown, string | undefined]>([
    ["a string", "rt-2", "rt-2"],
    ["a number", 5, "5"],
    ["a fraction", 2.5, "2.5"],
    ["absent: keep the stored one", undefined, undefined],
    ["null", null, undefined],
    ["empty", "", undefined],
    ["a boolean", true, undefined],
    ["an array", ["rt"], undefined],
    ["NaN", NaN, undefined],
  ])("refresh_token %s → %j", (_what, refresh_token, expected) => {
    const set = normalizeTokenResponse({ ...ok, refresh_token }, plain);
    expect(set.refreshToken).toBe(expected);
    expect("refreshToken" in set).toBe(expected !== undefined);
  });

  it("scope is a non-empty string or absent", () => {
    expect(normalizeTokenResponse({ ...ok, scope: "repo user" }, plain).scope).toBe("repo user");
    for (const scope of ["", null, ["repo"], 5]) expect("scope" in normalizeTokenResponse({ ...ok, scope }, plain)).toBe(false);
  });

  it("extras come from the raw body, by dotted path, stringified", () => {
    const set = normalizeTokenResponse({ ...ok, team: { id: "T1" }, authed_user: { id: 42 }, junk: [1, 2] }, { extraTokenKeys: ["team", "authed_user.id", "missing"] });
    expect(set.extra).toEqual({ team: '{"id":"T1"}', "authed_user.id": "42" });
  });

  it("junk members are ignored", () => {
    const set = normalizeTokenResponse({ ...ok, expires_in: 60, junk: { deeply: { nested: [null, { x: 1 }] } }, __proto__x: 1 }, plain);
    expect(set).toEqual({ accessToken: "at", tokenType: "bearer", expiresInSec: 60, extra: {}, notes: [] });
  });
});

describe("normalizeTokenResponse: notes", () => {
  it("a clean answer has none", () => {
    expect(normalizeTokenResponse({ access_token: "at", token_type: "Bearer", expires_in: "3600", refresh_token: "rt", scope: "a" }, plain).notes).toEqual([]);
  });

  it("name the field and the kind of oddity, never a value", () => {
    const secret = "s3cr3t-value-that-must-not-leak";
    const notes = normalizeTokenResponse({ access_token: 98765, token_type: secret + " x", refresh_token: 4242, expires_in: `-${secret}`, scope: { secret } }, plain).notes;
    expect(notes).toEqual([
      "access_token a number; used its decimal string",
      "token_type not a short type name; used bearer",
      "refresh_token a number; used its decimal string",
      "expires_in not a number; used 3600 s",
      "scope not a string; ignored",
    ]);
    for (const n of notes) {
      expect(n).not.toContain(secret);
      expect(n).not.toMatch(/98765|4242/);
    }
  });

  it("say which default was used", () => {
    expect(normalizeTokenResponse({ ...ok, expires_in: -1 }, withDefault).notes).toEqual(["expires_in negative; used default_token_lifetime"]);
    expect(normalizeTokenResponse({ ...ok, expires_in: 0 }, plain).notes).toEqual(["expires_in zero; used 3600 s"]);
    expect(normalizeTokenResponse({ ...ok, expires_in: null }, plain).notes).toEqual(["expires_in empty; treated as absent"]);
    expect(normalizeTokenResponse({ ...ok, expires_in: 1e16 }, plain).notes).toEqual(["expires_in above 10 years; capped at 10 years"]);
    expect(normalizeTokenResponse({ ...ok, expires_in: 0.0005 }, plain).notes).toEqual(["expires_in fractional; rounded up to whole seconds"]);
  });
});

describe("isErrorAnswer", () => {
  it.each<[string, Record<string, unknown> | undefined, boolean]>([
    ["GitHub's bad_refresh_token", { error: "bad_refresh_token", error_description: "expired" }, true],
    ["Slack's ok:false", { ok: false, error: "invalid_code" }, true],
    ["an error with an empty access_token", { error: "x", access_token: "" }, true],
    ["an error and a refresh token but no access token", { error: "x", refresh_token: "rt" }, true],
    ["an error beside a usable access token is a success", { error: "warning", access_token: "at" }, false],
    ["an empty error", { error: "", access_token: "at" }, false],
    ["a non-string error", { error: { code: 1 } }, false],
    ["no error", { access_token: "at" }, false],
    ["no body", undefined, false],
  ])("%s → %s", (_what, json, expected) => {
    expect(isErrorAnswer(json)).toBe(expected);
  });
});
