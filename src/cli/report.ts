import type { CallFailure } from "./daemon-error.js";

/** Who the failed command was about, for the "to link again" line. */
export interface FailureSubject {
  user?: string | undefined;
  provider?: string | undefined;
}

/** Failures no daemon answered (the CLI's own reasons): the message is the whole story, in one line. */
const NO_DAEMON_ANSWER = new Set(["DAEMON_UNREACHABLE", "SOCKET_PERMISSION_DENIED", "UNKNOWN", "ADDRESS_MISMATCH", "TLS_UNTRUSTED"]);

/**
 * A failed call on stderr: with --json one JSON object (code, reason,
 * message, retry_after in seconds or null, and failure_reason / hint when
 * the daemon gave them), otherwise a line a person reads, with the
 * provider's words, the hint and when to retry below it.
 */
export function formatFailure(f: CallFailure, json: boolean, subject: FailureSubject = {}): string {
  if (json) {
    return `${JSON.stringify({
      code: f.code,
      reason: f.reason,
      message: f.message,
      retry_after: f.retryAfterSec ?? null,
      ...(f.failureReason !== undefined ? { failure_reason: f.failureReason } : {}),
      ...(f.hint !== undefined ? { hint: f.hint } : {}),
    })}\n`;
  }
  // No daemon answered: the message is the whole story, in one line.
  if (NO_DAEMON_ANSWER.has(f.reason)) return `tokenbroker: ${f.message}\n`;
  let out = `tokenbroker: ${f.reason}: ${f.message}\n`;
  if (f.failureReason !== undefined) out += `  provider said: ${f.failureReason}\n`;
  if (f.hint !== undefined) out += `  hint: ${f.hint}\n`;
  if (f.retryAfterSec !== undefined) out += `  retry after: ${f.retryAfterSec}s\n`;
  if ((f.reason === "REAUTH_REQUIRED" || f.reason === "LINK_NOT_FOUND") && f.hint === undefined && subject.user !== undefined && subject.provider !== undefined) {
    out += `  to link again: tokenbroker link --user ${subject.user} --provider ${subject.provider}\n`;
  }
  return out;
}

/** A usage error: plain, or with --json the same JSON shape as a failed call. */
export function formatUsageError(command: string, message: string, json: boolean): string {
  if (json) return `${JSON.stringify({ code: "INVALID_ARGUMENT", reason: "USAGE", message, retry_after: null })}\n`;
  const help = command === "" ? "tokenbroker --help" : `tokenbroker ${command} --help`;
  return `tokenbroker${command === "" ? "" : ` ${command}`}: ${message}\n(see ${help})\n`;
}
