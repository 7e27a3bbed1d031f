/**
 * Every failure tokenbroker reports to a caller is a BrokerError carrying one
 * of these reasons (docs/design.md §9). The domain knows reasons only; which
 * gRPC code each one travels with is the wire's business (rpc/wire-error.ts).
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
  REFRESH_INTERRUPTED: "REFRESH_INTERRUPTED",
  USER_NOT_ALLOWED: "USER_NOT_ALLOWED",
  WATCH_LIMIT_REACHED: "WATCH_LIMIT_REACHED",
} as const;
export type Reason = (typeof Reason)[keyof typeof Reason];

export interface BrokerErrorDetail {
  /** milliseconds */
  retryAfterMs?: number;
  hint?: string;
  failureReason?: string;
  /** epoch milliseconds */
  failedAt?: number;
  field?: string;
  /** Machine-readable facts (ErrorInfo.metadata, under the keys proto/tokenbroker/v1/errors.proto lists); never a secret. */
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
  readonly detail: BrokerErrorDetail;

  constructor(reason: Reason, message: string, detail: BrokerErrorDetail = {}, options?: { cause?: unknown }) {
    super(message, options);
    this.reason = reason;
    this.detail = detail;
  }

  static invalidArgument(field: string, problem: string): BrokerError {
    return new BrokerError(Reason.INVALID_ARGUMENT, `${field}: ${problem}`, { field });
  }
}
