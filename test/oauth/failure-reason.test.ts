import { describe, expect, it } from "vitest";
import { OAuthError, failureReason, FAILURE_REASON_MAX_BYTES } from "../../src/oauth/oauth-error.js";
import { redactSecrets, truncateUtf8 } from "../../src/redact.js";

const err = (init: Partial<ConstructorParameters<typeof OAuthError>[0]> = {}) =>
  new OAuthError({ kind: "permanent", sent: "answered", message: "token endpoint answered HTTP 400", ...init });

describe("failureReason", () => {
  it("is 'code: description' for provider errors", () => {
    expect(
      failureReason(err({ error: "bad_refresh_token", description: "The refresh token passed is incorrect or expired." })),
    ).toBe("bad_refresh_token: The refresh token passed is incorrect or expired.");
  });

  it("is the code alone without a description, the message without a code", () => {
    expect(failureReason(err({ error: "invalid_grant" }))).toBe("invalid_grant");
    expect(failureReason(err())).toBe("token endpoint answered HTTP 400");
    expect(failureReason(new Error("boom"))).toBe("boom");
    expect(failureReason("plain")).toBe("plain");
  });

  it("redacts the secrets it is given, raw and URL-encoded", () => {
    const rt = "r1/abc+def=";
    const e = err({ error: "invalid_grant", description: `token ${rt} or ${encodeURIComponent(rt)} rejected` });
    const reason = failureReason(e, [rt]);
    expect(reason).toBe("invalid_grant: token [redacted] or [redacted] rejected");
  });

  it("collapses whitespace so the reason stays one line", () => {
    expect(failureReason(err({ error: "invalid_grant", description: "line one\n\tline two  " }))).toBe("invalid_grant: line one line two");
  });

  it("truncates to 400 bytes without splitting a character", () => {
    const long = failureReason(err({ error: "invalid_grant", description: "é".repeat(500) }));
    const bytes = Buffer.from(long, "utf8");
    expect(bytes.length).toBeLessThanOrEqual(FAILURE_REASON_MAX_BYTES);
    expect(bytes.toString("utf8")).toBe(long);
    expect(long).not.toContain("\uFFFD");
    expect(long.endsWith("…")).toBe(true);
  });

  it("never carries the description in the message", () => {
    const e = err({ error: "invalid_grant", description: "secret detail" });
    expect(e.message).not.toContain("secret detail");
  });
});

describe("redactSecrets", () => {
  it.each([
    ["GitHub tokens", "token ghr_16C7e42F292c6912E7710c838347Ae178B4a expired", "token [redacted] expired"],
    ["fine-grained PATs", "github_pat_11ABCDEFG0123456789_abcdefXYZ", "[redacted]"],
    ["Slack tokens", "xoxp-1234-5678-abcdef used", "[redacted] used"],
    ["JWTs", "got eyJhbGciOiJIUzI1NiJ9.eyJzdWIiOiIxIn0.sig_nature", "got [redacted]"],
    ["auth schemes", "sent Bearer abc.def-123 and Basic dXNlcjpwYXNz", "sent Bearer [redacted] and Basic [redacted]"],
    ["named fields", 'refresh_token=abc123&client_secret: "s3cret" access_token=zz', 'refresh_token=[redacted]&client_secret: "[redacted]" access_token=[redacted]'],
    ["opaque runs", "value 8f14e45fceea167a5a36dedd4bea2543 bad", "value [redacted] bad"],
  ])("%s", (_name, input, output) => {
    expect(redactSecrets(input)).toBe(output);
  });

  it("leaves prose and error codes alone", () => {
    const s = "bad_refresh_token: The refresh token passed is incorrect or expired. See https://docs.example.com/apps/oauth";
    expect(redactSecrets(s)).toBe(s);
  });

  it("ignores secrets too short to be credentials", () => {
    expect(redactSecrets("a b c", ["a"])).toBe("a b c");
  });
});

describe("truncateUtf8", () => {
  it("returns short strings untouched", () => {
    expect(truncateUtf8("hello", 400)).toBe("hello");
  });
  it("never splits a surrogate pair", () => {
    const s = truncateUtf8("😀".repeat(200), 400);
    expect(Buffer.byteLength(s)).toBeLessThanOrEqual(400);
    expect(s.replace("…", "")).toMatch(/^(😀)+$/u);
  });
  it("hits the byte limit exactly when it can", () => {
    expect(Buffer.byteLength(truncateUtf8("a".repeat(1000), 400))).toBe(400);
  });
});

describe("OAuthError", () => {
  it("withRetryAfter copies every field", () => {
    const e = new OAuthError({ kind: "transient", sent: "unknown", message: "m", status: 503, error: "x", description: "d" }).withRetryAfter(750);
    expect(e).toMatchObject({ kind: "transient", sent: "unknown", message: "m", status: 503, error: "x", description: "d", retryAfterMs: 750 });
    expect(e).toBeInstanceOf(OAuthError);
  });
});
