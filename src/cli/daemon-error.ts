import { Code, ConnectError } from "@connectrpc/connect";
import { durationMs } from "@bufbuild/protobuf/wkt";
import { ErrorInfoSchema, HelpSchema, RetryInfoSchema, type ErrorInfo } from "../../gen/google/rpc/error_details_pb.js";
import { ERROR_DOMAIN } from "../rpc/wire-error.js";
import { codeName } from "./daemon-client.js";

// How the CLI reads the daemon's errors: the google.rpc details of
// docs/design.md §9, whatever the transport (daemon-client.ts rebuilds them
// as ConnectError details). The exit code follows from the reason alone
// (exit-codes.ts), so a change of the wire form changes only this file.

/** tokenbroker's ErrorInfo of an error the daemon answered with; undefined for anything else. */
export function errorInfoOf(err: unknown): ErrorInfo | undefined {
  if (!(err instanceof ConnectError)) return undefined;
  return err.findDetails(ErrorInfoSchema).find((i) => i.domain === ERROR_DOMAIN);
}

/** The reason the daemon gave (`ErrorInfo.reason`, an ErrorReason name), or undefined when it gave none. */
export function reasonOf(err: unknown): string | undefined {
  return errorInfoOf(err)?.reason;
}

/** What a failed call means, decoded once for every command (exit code, message, JSON). */
export interface CallFailure {
  /** The gRPC code name, e.g. NOT_FOUND. */
  code: string;
  /** The daemon's reason, or DAEMON_UNREACHABLE / SOCKET_PERMISSION_DENIED when no daemon answered, or UNKNOWN. */
  reason: string;
  message: string;
  retryAfterSec?: number;
  failureReason?: string;
  hint?: string;
}

/**
 * Decodes a failed call. A call that reached no daemon (nothing listening,
 * no socket file, refused) carries no ErrorInfo and is told apart here, so
 * scripts and people get one sentence rather than a transport's error text.
 */
export function failureOf(err: unknown, address: string): CallFailure {
  if (!(err instanceof ConnectError)) return { code: "UNKNOWN", reason: "UNKNOWN", message: err instanceof Error ? err.message : String(err) };
  const code = codeName(err.code);
  const reason = reasonOf(err);
  if (reason !== undefined) {
    const failureReason = errorInfoOf(err)?.metadata.failure_reason;
    const hint = err.findDetails(HelpSchema).flatMap((h) => h.links.map((l) => l.description)).join("; ");
    const retry = err.findDetails(RetryInfoSchema)[0]?.retryDelay;
    return {
      code,
      reason,
      message: err.rawMessage,
      ...(retry !== undefined ? { retryAfterSec: durationMs(retry) / 1000 } : {}),
      ...(failureReason ? { failureReason } : {}),
      ...(hint !== "" ? { hint } : {}),
    };
  }
  if (err.code === Code.Unavailable && /\bEACCES\b/.test(err.rawMessage)) {
    return { code, reason: "SOCKET_PERMISSION_DENIED", message: `permission denied connecting to ${address}; join the socket's group (tokenbroker-clients) or run as root` };
  }
  if (err.code === Code.Unavailable) {
    return { code, reason: "DAEMON_UNREACHABLE", message: `cannot reach the daemon at ${address}; is it running? set TOKENBROKER_ADDR` };
  }
  return { code, reason: code, message: err.rawMessage };
}
