/**
 * The wire form of errors (rpc/wire-error.ts, docs/design.md §9): the
 * reason → code table matches the one the design documents, unknown errors
 * leave as INTERNAL without their message, and the google.rpc details carry
 * what the domain put in it.
 */
import { readFileSync } from "node:fs";
import { resolve } from "node:path";
import { Code, ConnectError } from "@connectrpc/connect";
import { create, toBinary } from "@bufbuild/protobuf";
import { describe, expect, it } from "vitest";
import { ErrorInfoSchema } from "../../gen/google/rpc/error_details_pb.js";
import { StatusSchema } from "../../gen/google/rpc/status_pb.js";
import { DecryptError } from "../../src/crypto/index.js";
import { BrokerError, Reason } from "../../src/errors/index.js";
import { ERROR_DOMAIN, HELP_URL, grpcCode, statusMessage, toConnectError, wireStatus } from "../../src/rpc/wire-error.js";
import { detailOf } from "../support/error-details.js";

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
      expect(wire.findDetails(ErrorInfoSchema)[0]?.reason).toBe(Reason.INTERNAL);
      expect(Buffer.from(toBinary(StatusSchema, statusMessage(wireStatus(err)))).toString("latin1")).not.toContain("very-secret");
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
    const wire = toConnectError(err, { userId: "ann", providerId: "gh" });
    expect(wire.code).toBe(Code.FailedPrecondition);
    expect(wire.rawMessage).toBe("link again");
    const d = detailOf(wire)!;
    expect(d.info).toMatchObject({ reason: "REAUTH_REQUIRED", domain: ERROR_DOMAIN });
    expect(d.metadata).toEqual({ provider_id: "gh", user_id: "ann", failure_reason: "invalid_grant", failed_at: "2023-11-14T22:13:20.123Z" });
    // Rounded up: a client never comes back early.
    expect(Number(d.retry!.retryDelay!.seconds) * 1000 + d.retry!.retryDelay!.nanos / 1e6).toBe(1501);
    // The daemon knows the link, so the help is the exact command.
    expect(d.help?.links).toEqual([expect.objectContaining({ description: "link again: tokenbroker link --user ann --provider gh", url: HELP_URL })]);
    expect(d.badRequest).toBeUndefined();
  });

  it("the re-link command quotes ids a shell would split", () => {
    const d = detailOf(toConnectError(new BrokerError(Reason.LINK_NOT_FOUND, "none"), { userId: "o'brien x", providerId: "gh" }))!;
    expect(d.help?.links[0]?.description).toBe("link first: tokenbroker link --user 'o'\\''brien x' --provider gh");
  });

  it("INVALID_ARGUMENT carries a BadRequest naming the field; an oversized id is not echoed", () => {
    const long = "u".repeat(300);
    const d = detailOf(toConnectError(BrokerError.invalidArgument("user_id", "must be at most 256 bytes"), { userId: long, providerId: "gh" }))!;
    expect(d.badRequest?.fieldViolations).toEqual([expect.objectContaining({ field: "user_id", description: "user_id: must be at most 256 bytes" })]);
    expect(d.metadata).toEqual({ provider_id: "gh", field: "user_id" });
  });

  it("a stray DecryptError is DATA_LOSS with reason DECRYPT_FAILED", () => {
    const wire = wireStatus(new DecryptError("bad tag", "k9"));
    expect(wire.code).toBe(Code.DataLoss);
    expect(wire.reason).toBe(Reason.DECRYPT_FAILED);
    expect(detailOf(new ConnectError("", wire.code, undefined, wire.details))?.help?.links[0]?.description).toContain("k9");
  });

  it("connect's own errors get a reason from their code; ones already in wire form pass untouched", () => {
    expect(wireStatus(new ConnectError("too slow", Code.DeadlineExceeded))).toMatchObject({ code: Code.DeadlineExceeded, reason: "DEADLINE_EXCEEDED" });
    expect(wireStatus(new ConnectError("bad bytes", Code.InvalidArgument))).toMatchObject({ code: Code.InvalidArgument, reason: "INVALID_ARGUMENT" });
    expect(wireStatus(new ConnectError("going away", Code.Unavailable))).toMatchObject({ code: Code.Unavailable, reason: "SHUTTING_DOWN" });
    expect(wireStatus(new ConnectError("odd", Code.Aborted))).toMatchObject({ code: Code.Internal, reason: "INTERNAL" });
    const wired = new ConnectError("as is", Code.NotFound, undefined, [{ desc: ErrorInfoSchema, value: create(ErrorInfoSchema, { reason: "LINK_NOT_FOUND", domain: ERROR_DOMAIN }) }]);
    expect(toConnectError(wired)).toBe(wired);
    expect(wireStatus(wired)).toMatchObject({ code: Code.NotFound, message: "as is", reason: "LINK_NOT_FOUND" });
  });
});
