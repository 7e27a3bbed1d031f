import { ConnectError } from "@connectrpc/connect";
import { ErrorInfoSchema, HelpSchema, RetryInfoSchema, type ErrorInfo } from "../../gen/google/rpc/error_details_pb.js";
import { ERROR_DOMAIN } from "../rpc/wire-error.js";

// How the CLI reads the daemon's errors: the google.rpc details of
// docs/design.md §9, whatever the transport (daemon-client.ts rebuilds them
// as ConnectError details).

/** tokenbroker's ErrorInfo of an error the daemon answered with; undefined for anything else. */
export function errorInfoOf(err: unknown): ErrorInfo | undefined {
  if (!(err instanceof ConnectError)) return undefined;
  return err.findDetails(ErrorInfoSchema).find((i) => i.domain === ERROR_DOMAIN);
}

/** The reason the daemon gave (`ErrorInfo.reason`, an ErrorReason name), or undefined when it gave none. */
export function reasonOf(err: unknown): string | undefined {
  return errorInfoOf(err)?.reason;
}

/** The lines the CLI prints for a failed call: reason and message, then what the details say. */
export function describeError(err: unknown, user: string, provider: string): string {
  if (!(err instanceof ConnectError)) return `tokenbroker: ${err instanceof Error ? err.message : String(err)}\n`;
  const reason = reasonOf(err) ?? "UNKNOWN";
  const info = errorInfoOf(err);
  let out = `tokenbroker: ${reason}: ${err.rawMessage}\n`;
  if (info?.metadata.failure_reason) out += `  provider said: ${info.metadata.failure_reason}\n`;
  const help = err.findDetails(HelpSchema).flatMap((h) => h.links.map((l) => l.description));
  for (const line of help) out += `  hint: ${line}\n`;
  const retry = err.findDetails(RetryInfoSchema)[0]?.retryDelay;
  if (retry) out += `  retry after: ${Number(retry.seconds) + retry.nanos / 1e9}s\n`;
  if ((reason === "REAUTH_REQUIRED" || reason === "LINK_NOT_FOUND") && help.length === 0) {
    out += `  to link again: tokenbroker link --user ${user} --provider ${provider}\n`;
  }
  return out;
}
