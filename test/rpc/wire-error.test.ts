/**
 * The wire form of errors (rpc/wire-error.ts, docs/design.md §9): the
 * reason → code table matches the one the design documents, unknown errors
 * leave as INTERNAL without their message, and the detail carries what the
 * domain put in it.
 */
import { readFileSync } from "node:fs";
import { resolve } from "node:path";
import { Code, ConnectError } from "@connectrpc/connect";
import { create } from "@bufbuild/protobuf";
import { timestampMs } from "@bufbuild/protobuf/wkt";
import { describe, expect, it } from "vitest";
import { ErrorDetailSchema } from "../../gen/tokenbroker/v1/errors_pb.js";
import { DecryptError } from "../../src/crypto/index.js";
import { BrokerError, Reason } from "../../src/errors.js";
import { grpcCode, toConnectError, wireStatus } from "../../src/rpc/wire-error.js";

/** The reason → code rows of docs/design.md §9. */
function documentedCodes(): Map<string, string> {
  const doc = readFileSync(resolve(import.meta.dirname, "../../docs/design.md"), "utf8");
  const section = doc.slice(doc.indexOf("## 9. The error model"));
  const rows = [...section.matchAll(/^\| `([A-Z_]+)` \| ([A-Z_]+) \|/gm)];
  return new Map(rows.map((m) => [m[1]!, m[2]!]));
}

const codeName = (c: Code): string => Code[c]!.replace(/([a-z])([A-Z])/g, "$1_$2").toUpperCase();

describe("the wire form of errors", () => {
  it("every reason travels with the gRPC code docs/design.md §9 gives it", () => {
    const documented = documentedCodes();
    expect([...documented.keys()].sort()).toEqual(Object.values(Reason).sort());
    for (const reason of Object.values(Reason)) expect(codeName(grpcCode(reason)), reason).toBe(documented.get(reason));
  });

  it("an unknown error is INTERNAL without its message", () => {
    const secret = "refresh_token=rt-very-secret-value";
    for (const err of [new Error(secret), new TypeError(secret), secret, { message: secret }]) {
      const wire = toConnectError(err);
      expect(wire.code).toBe(Code.Internal);
      expect(wire.rawMessage).toBe("internal error");
      expect(wire.findDetails(ErrorDetailSchema)[0]?.reason).toBe(Reason.INTERNAL);
      expect(JSON.stringify(wireStatus(err))).not.toContain("very-secret");
    }
  });

  it("a BrokerError's detail reaches the wire", () => {
    const err = new BrokerError(Reason.REAUTH_REQUIRED, "link again", {
      failureReason: "invalid_grant",
      failedAt: 1_700_000_000_123,
      hint: "tokenbroker link",
      retryAfterMs: 1500.2,
      metadata: { provider_id: "gh" },
    });
    const wire = toConnectError(err);
    expect(wire.code).toBe(Code.FailedPrecondition);
    expect(wire.rawMessage).toBe("link again");
    const d = wire.findDetails(ErrorDetailSchema)[0]!;
    expect(d).toMatchObject({ reason: "REAUTH_REQUIRED", failureReason: "invalid_grant", hint: "tokenbroker link", metadata: { provider_id: "gh" } });
    expect(timestampMs(d.failedAt!)).toBe(1_700_000_000_123);
    // Rounded up: a client never comes back early.
    expect(Number(d.retryAfter!.seconds) * 1000 + d.retryAfter!.nanos / 1e6).toBe(1501);
  });

  it("a stray DecryptError is DATA_LOSS with reason DECRYPT_FAILED", () => {
    const wire = wireStatus(new DecryptError("bad tag", "k9"));
    expect(wire.code).toBe(Code.DataLoss);
    expect(wire.detail.reason).toBe(Reason.DECRYPT_FAILED);
    expect(wire.detail.hint).toContain("k9");
  });

  it("connect's own errors get a reason from their code; ones already in wire form pass untouched", () => {
    expect(wireStatus(new ConnectError("too slow", Code.DeadlineExceeded))).toMatchObject({ code: Code.DeadlineExceeded, detail: { reason: "DEADLINE_EXCEEDED" } });
    expect(wireStatus(new ConnectError("bad bytes", Code.InvalidArgument))).toMatchObject({ code: Code.InvalidArgument, detail: { reason: "INVALID_ARGUMENT" } });
    expect(wireStatus(new ConnectError("going away", Code.Unavailable))).toMatchObject({ code: Code.Unavailable, detail: { reason: "SHUTTING_DOWN" } });
    expect(wireStatus(new ConnectError("odd", Code.Aborted))).toMatchObject({ code: Code.Internal, detail: { reason: "INTERNAL" } });
    const wired = new ConnectError("as is", Code.NotFound, undefined, [{ desc: ErrorDetailSchema, value: create(ErrorDetailSchema, { reason: "LINK_NOT_FOUND" }) }]);
    expect(toConnectError(wired)).toBe(wired);
    expect(wireStatus(wired)).toMatchObject({ code: Code.NotFound, message: "as is", detail: { reason: "LINK_NOT_FOUND" } });
  });
});
