import { create } from "@bufbuild/protobuf";
import { durationFromMs, timestampFromMs } from "@bufbuild/protobuf/wkt";
import { Code, ConnectError } from "@connectrpc/connect";
import { ErrorDetailSchema, type ErrorDetail } from "../../gen/tokenbroker/v1/errors_pb.js";
import { BrokerError, Reason, domainError } from "../errors.js";

/**
 * The reason fixes the gRPC code, so the two never drift apart between
 * transports (docs/design.md §9).
 */
const codeOf: Record<Reason, Code> = {
  INVALID_ARGUMENT: Code.InvalidArgument,
  NOT_FOUND: Code.NotFound,
  PROVIDER_NOT_FOUND: Code.NotFound,
  LINK_NOT_FOUND: Code.NotFound,
  REAUTH_REQUIRED: Code.FailedPrecondition,
  PROVIDER_MISCONFIGURED: Code.FailedPrecondition,
  PROVIDER_UNAVAILABLE: Code.Unavailable,
  PROVIDER_RATE_LIMITED: Code.ResourceExhausted,
  DEADLINE_EXCEEDED: Code.DeadlineExceeded,
  CALLER_UNKNOWN: Code.Unauthenticated,
  SCOPE_MISSING: Code.PermissionDenied,
  DECRYPT_FAILED: Code.DataLoss,
  STORE_UNAVAILABLE: Code.Unavailable,
  MIN_VALIDITY_UNREACHABLE: Code.FailedPrecondition,
  UNIMPLEMENTED: Code.Unimplemented,
  SHUTTING_DOWN: Code.Unavailable,
  INTERNAL: Code.Internal,
};

export function grpcCode(reason: Reason): Code {
  return codeOf[reason];
}

/** What goes on the wire for an error: code, human message, ErrorDetail. */
export interface WireStatus {
  code: Code;
  message: string;
  detail: ErrorDetail;
}

/**
 * Anything thrown by a handler, as the caller will see it. Unknown errors
 * become INTERNAL without their message, so nothing internal (or secret)
 * leaks.
 */
export function wireStatus(err: unknown): WireStatus {
  const known = domainError(err);
  if (known instanceof BrokerError) return { code: grpcCode(known.reason), message: known.message, detail: detailOf(known) };
  if (known instanceof ConnectError) {
    const detail = known.findDetails(ErrorDetailSchema)[0];
    if (detail !== undefined) return { code: known.code, message: known.rawMessage, detail };
    // Raised by connect itself (a bad request, a deadline): the reason decides the code, as for ours.
    const reason = reasonForCode(known.code);
    return { code: grpcCode(reason), message: known.rawMessage, detail: create(ErrorDetailSchema, { reason }) };
  }
  return { code: Code.Internal, message: "internal error", detail: create(ErrorDetailSchema, { reason: Reason.INTERNAL }) };
}

/** The ConnectError both transports send (grpc-js through grpc-transport.ts, connect-node directly). */
export function toConnectError(err: unknown): ConnectError {
  // Already in wire form (details attached): pass it on untouched.
  if (err instanceof ConnectError && err.findDetails(ErrorDetailSchema).length > 0) return err;
  const s = wireStatus(err);
  return new ConnectError(s.message, s.code, undefined, [{ desc: ErrorDetailSchema, value: s.detail }]);
}

function detailOf(err: BrokerError): ErrorDetail {
  const d = err.detail;
  return create(ErrorDetailSchema, {
    reason: err.reason,
    hint: d.hint ?? "",
    failureReason: d.failureReason ?? "",
    field: d.field ?? "",
    metadata: d.metadata ?? {},
    ...(d.retryAfterMs !== undefined ? { retryAfter: durationFromMs(Math.max(0, Math.ceil(d.retryAfterMs))) } : {}),
    ...(d.failedAt !== undefined ? { failedAt: timestampFromMs(d.failedAt) } : {}),
  });
}

function reasonForCode(code: Code): Reason {
  switch (code) {
    case Code.Unimplemented:
      return Reason.UNIMPLEMENTED;
    case Code.DeadlineExceeded:
      return Reason.DEADLINE_EXCEEDED;
    case Code.InvalidArgument:
      return Reason.INVALID_ARGUMENT;
    case Code.Unavailable:
      return Reason.SHUTTING_DOWN;
    default:
      return Reason.INTERNAL;
  }
}
