import { Code, ConnectError } from "@connectrpc/connect";
import { create } from "@bufbuild/protobuf";
import { durationFromMs, timestampFromMs } from "@bufbuild/protobuf/wkt";
import { ErrorDetailSchema } from "../gen/tokenbroker/v1/errors_pb.js";
import { DecryptError } from "./crypto/sealer.js";

/**
 * Every failure tokenbroker reports to a caller is a BrokerError carrying one
 * of these reasons. The reason fixes the gRPC code, so the two never drift
 * apart between transports.
 */
export const Reason = {
  INVALID_ARGUMENT: "INVALID_ARGUMENT",
  NOT_FOUND: "NOT_FOUND",
  PROVIDER_NOT_FOUND: "PROVIDER_NOT_FOUND",
  LINK_NOT_FOUND: "LINK_NOT_FOUND",
  REAUTH_REQUIRED: "REAUTH_REQUIRED",
  PROVIDER_MISCONFIGURED: "PROVIDER_MISCONFIGURED",
  PROVIDER_UNAVAILABLE: "PROVIDER_UNAVAILABLE",
  PROVIDER_RATE_LIMITED: "PROVIDER_RATE_LIMITED",
  DEADLINE_EXCEEDED: "DEADLINE_EXCEEDED",
  CALLER_UNKNOWN: "CALLER_UNKNOWN",
  SCOPE_MISSING: "SCOPE_MISSING",
  DECRYPT_FAILED: "DECRYPT_FAILED",
  STORE_UNAVAILABLE: "STORE_UNAVAILABLE",
  MIN_VALIDITY_UNREACHABLE: "MIN_VALIDITY_UNREACHABLE",
  UNIMPLEMENTED: "UNIMPLEMENTED",
  SHUTTING_DOWN: "SHUTTING_DOWN",
  INTERNAL: "INTERNAL",
} as const;
export type Reason = (typeof Reason)[keyof typeof Reason];

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

export interface BrokerErrorDetail {
  /** milliseconds */
  retryAfterMs?: number;
  hint?: string;
  failureReason?: string;
  /** epoch milliseconds */
  failedAt?: number;
  field?: string;
  /** Machine-readable facts (ErrorDetail.metadata); never a secret. */
  metadata?: Record<string, string>;
}

/**
 * The one error type of tokenbroker. Messages are for humans and must never
 * hold a secret, nor the characters `= & / ? #` (grpc-js shows them
 * percent-encoded); data goes in `detail`.
 */
export class BrokerError extends Error {
  override readonly name = "BrokerError";
  readonly reason: Reason;
  readonly code: Code;
  readonly detail: BrokerErrorDetail;

  constructor(reason: Reason, message: string, detail: BrokerErrorDetail = {}, options?: { cause?: unknown }) {
    super(message, options);
    this.reason = reason;
    this.code = codeOf[reason];
    this.detail = detail;
  }

  static invalidArgument(field: string, problem: string): BrokerError {
    return new BrokerError(Reason.INVALID_ARGUMENT, `${field}: ${problem}`, { field });
  }

  toConnectError(): ConnectError {
    const d = this.detail;
    const detail = create(ErrorDetailSchema, {
      reason: this.reason,
      hint: d.hint ?? "",
      failureReason: d.failureReason ?? "",
      field: d.field ?? "",
      metadata: d.metadata ?? {},
      ...(d.retryAfterMs !== undefined ? { retryAfter: durationFromMs(Math.max(0, Math.ceil(d.retryAfterMs))) } : {}),
      ...(d.failedAt !== undefined ? { failedAt: timestampFromMs(d.failedAt) } : {}),
    });
    return new ConnectError(this.message, this.code, undefined, [{ desc: ErrorDetailSchema, value: detail }]);
  }
}

/**
 * Converts anything thrown by a handler into what goes on the wire. Unknown
 * errors become INTERNAL without their message, so nothing internal (or
 * secret) leaks.
 */
export function toConnectError(err: unknown): ConnectError {
  if (err instanceof BrokerError) return err.toConnectError();
  if (err instanceof DecryptError) {
    return new BrokerError(Reason.DECRYPT_FAILED, "a stored value failed to decrypt", err.keyId !== undefined ? { hint: `sealed under key ${err.keyId}` } : {}).toConnectError();
  }
  if (err instanceof ConnectError) {
    if (err.findDetails(ErrorDetailSchema).length > 0) return err;
    const reason = reasonForCode(err.code);
    return new BrokerError(reason, err.rawMessage).toConnectError();
  }
  return new BrokerError(Reason.INTERNAL, "internal error").toConnectError();
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
