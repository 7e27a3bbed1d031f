import { describe, expect, it } from "vitest";
import { AuditLog } from "../../src/audit/audit-log.js";

function capture(): { log: AuditLog; lines: string[] } {
  const lines: string[] = [];
  return { lines, log: new AuditLog({ write: (l) => void lines.push(l), reopen: () => undefined, close: () => undefined }) };
}

describe("AuditLog lines (docs/design.md §6)", () => {
  it("one JSON line of the allowlisted fields, in the log line shape", () => {
    const { log, lines } = capture();
    log.write({
      event: "unlink",
      caller: { name: "agent", transport: "grpc+unix", auth: "token" },
      method: "/tokenbroker.v1.LinkService/Unlink",
      userId: "alice",
      providerId: "github",
      outcome: { grpcCode: "OK", reason: "" },
      providerContacted: true,
      durationMs: 1.23456,
      facts: { token_revoked: true },
    });
    expect(lines).toHaveLength(1);
    expect(lines[0]!.endsWith("\n")).toBe(true);
    expect(lines[0]!.slice(0, -1)).not.toContain("\n");
    const l = JSON.parse(lines[0]!) as Record<string, unknown>;
    expect(Object.keys(l).sort()).toEqual(
      ["audit", "caller", "duration_ms", "event", "level", "method", "msg", "outcome", "provider_contacted", "provider_id", "service", "time", "token_revoked", "user_id"].sort(),
    );
    expect(l).toMatchObject({ level: 30, audit: true, service: "tokenbroker", msg: "unlink", user_id: "alice", provider_id: "github", duration_ms: 1.235 });
    expect(Date.parse(String(l.time))).toBeGreaterThan(Date.now() - 60_000);
  });

  it("a fact that is not a number or boolean is dropped, and extra caller keys are not copied", () => {
    const { log, lines } = capture();
    const caller = { name: null, transport: "internal", auth: "none", token: "s3cr3t-value" } as never;
    log.write({
      event: "key_rotation",
      caller,
      method: "ReencryptLinks",
      outcome: { grpcCode: "OK", reason: "" },
      providerContacted: false,
      durationMs: 0,
      facts: { reencrypted_rows: 3, note: "s3cr3t-value" } as never,
    });
    expect(lines[0]).not.toContain("s3cr3t-value");
    expect(JSON.parse(lines[0]!)).toMatchObject({ reencrypted_rows: 3, user_id: null, provider_id: null, caller: { name: null } });
  });
});
