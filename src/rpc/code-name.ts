import { Code } from "@connectrpc/connect";

/**
 * The one spelling of a status code outside the wire (issue 23 item 8):
 * the gRPC spec's names (`FAILED_PRECONDITION`, `CANCELLED`), as the audit
 * log's `outcome.grpc_code`, the metrics' `code` label and the CLI write
 * it, so an alert written from one matches the others. The Connect
 * protocol's own wire form (`failed_precondition`) and grpc-js's numbers are
 * defined by those protocols and stay as they are.
 */
export function grpcCodeName(code: Code): string {
  if (code === Code.Canceled) return "CANCELLED";
  return (Code[code] ?? String(code)).replace(/(?<=[a-z])(?=[A-Z])/g, "_").toUpperCase();
}
