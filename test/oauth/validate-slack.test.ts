import { describe, expect, it } from "vitest";
import { slackValidationOutcome, validateToken } from "../../src/oauth/validate.js";
import { useCaptureServer } from "../support/scoped-fakes.js";

describe("Slack validation reads the verdict from the HTTP 200 body", () => {
  it.each([
    [{ ok: true, user_id: "U1" }, "valid"],
    [{ ok: false, error: "invalid_auth" }, "invalid"],
    [{ ok: false, error: "token_revoked" }, "invalid"],
    [{ ok: false, error: "account_inactive" }, "invalid"],
    [{ ok: false, error: "ratelimited" }, "rate_limited"],
    [{ ok: false, error: "fatal_error" }, "unknown"],
    ["not json", "unknown"],
  ])("%j → %s", (body, outcome) => {
    expect(slackValidationOutcome(typeof body === "string" ? undefined : body)).toBe(outcome);
  });

  it("validateToken with quirks slack: ok:false is invalid; other providers go by status", async () => {
    const capture = await useCaptureServer({ status: 200, body: { ok: false, error: "invalid_auth" } });
    expect((await validateToken(`${capture.url}/api/auth.test`, "xoxb-t", { timeoutMs: 2000, quirks: "slack" })).outcome).toBe("invalid");
    expect((await validateToken(`${capture.url}/api/auth.test`, "xoxb-t", { timeoutMs: 2000 })).outcome).toBe("valid");
    capture.fallback = { status: 200, body: { ok: true } };
    expect((await validateToken(`${capture.url}/api/auth.test`, "xoxb-t", { timeoutMs: 2000, quirks: "slack" })).outcome).toBe("valid");
    expect(capture.requests[0]!.headers.authorization).toBe("Bearer xoxb-t");
  });
});
