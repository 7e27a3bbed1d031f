/**
 * Issue 23 item 3: the log's redaction hides OAuth authorization codes (`code`)
 * at every depth, yet a store fault's SQLSTATE, logged as `err.code`, shows.
 * The exception is structural (directly inside `err`) and by shape (an error
 * code's): an OAuth code is never let through, wherever it is put.
 */
import { Writable } from "node:stream";
import { describe, expect, it } from "vitest";
import { createLogger } from "../../src/log.js";
import { describePgFault } from "../../src/store/postgres/faults.js";

function capture(): { log: ReturnType<typeof createLogger>; lines: () => Array<Record<string, unknown>>; text: () => string } {
  const chunks: string[] = [];
  const sink = new Writable({
    write(chunk: Buffer, _enc, cb) {
      chunks.push(chunk.toString());
      cb();
    },
  });
  const log = createLogger("trace", sink);
  return { log, text: () => chunks.join(""), lines: () => chunks.join("").split("\n").filter(Boolean).map((l) => JSON.parse(l) as Record<string, unknown>) };
}

// Codes as providers issue them: GitHub's 20 hex characters, a base64url one, and one
// shaped like a SQLSTATE (five capitals and digits) — still an OAuth code where it sits.
const OAUTH_CODES = ["3584d83530557fdd1f46", "SplxlOBeZQQYbYS6WxSbIA", "AB12C"];

describe("redaction of `code`", () => {
  it("a store fault's SQLSTATE, socket code or SQLite code shows under err.code", () => {
    const c = capture();
    for (const code of ["57P01", "28P01", "55P03", "ECONNREFUSED", "SQLITE_BUSY", "PG_QUERY_TIMEOUT"]) {
      c.log.error({ provider: "gh", user: "u", attempt: 1, err: { code } }, "storing a refreshed token failed; retrying");
    }
    expect(c.lines().map((l) => (l.err as { code: string }).code)).toEqual(["57P01", "28P01", "55P03", "ECONNREFUSED", "SQLITE_BUSY", "PG_QUERY_TIMEOUT"]);
  });

  it("an OAuth code stays hidden at the top, nested, in arrays' objects, and under err.code unless it has an error code's shape", () => {
    const c = capture();
    for (const code of OAUTH_CODES) {
      c.log.info({ code }, "top");
      c.log.info({ query: { code } }, "nested");
      c.log.info({ callback: { params: { code } } }, "two deep");
      c.log.info({ request: { err: { code } } }, "err, one deep");
    }
    c.log.info({ err: { code: "3584d83530557fdd1f46" } }, "err, hex");
    c.log.info({ err: { code: "SplxlOBeZQQYbYS6WxSbIA" } }, "err, mixed case");
    const text = c.text();
    for (const code of OAUTH_CODES) expect(text).not.toContain(code);
    expect(text.match(/\[redacted\]/g)?.length).toBe(OAUTH_CODES.length * 4 + 2);
  });

  it("a SQLSTATE-shaped value outside err is still hidden (the key decides, not the value alone)", () => {
    const c = capture();
    c.log.error({ code: "57P01" }, "top-level code");
    expect(c.lines()[0]?.code).toBe("[redacted]");
  });

  it("the other secret keys are unaffected", () => {
    const c = capture();
    c.log.info({ err: { token: "57P01", password: "ECONNREFUSED" }, refresh_token: "SQLITE_BUSY" }, "x");
    const line = c.lines()[0] as { err: Record<string, string>; refresh_token: string };
    expect(line.err).toEqual({ token: "[redacted]", password: "[redacted]" });
    expect(line.refresh_token).toBe("[redacted]");
  });
});

describe("describePgFault", () => {
  it("names the cause in words with the code", () => {
    expect(describePgFault("ECONNREFUSED")).toBe("connection refused (ECONNREFUSED)");
    expect(describePgFault("28P01")).toBe("password authentication failed (SQLSTATE 28P01)");
    expect(describePgFault("57P01")).toBe("the server is shutting down (admin_shutdown) (SQLSTATE 57P01)");
    expect(describePgFault("PG_QUERY_TIMEOUT")).toBe("no answer within query_timeout (PG_QUERY_TIMEOUT)");
    expect(describePgFault("EPIPE")).toBe("connection broken (EPIPE)");
    expect(describePgFault("08P01")).toBe("connection exception (SQLSTATE 08P01)");
  });
});
