import type { HandlerContext } from "@connectrpc/connect";
import type { AuditCaller } from "../audit/call-scope.js";
import { callerKey, listenerKindKey, peerKey } from "./context.js";

/** The caller of a call as the audit log names it (after caller auth ran): `grpc+unix`, `connect+tls`, … */
export function callerOf(ctx: HandlerContext): AuditCaller {
  const id = ctx.values.get(callerKey);
  const kind = ctx.values.get(listenerKindKey);
  const transport = `${ctx.protocolName}+${ctx.values.get(peerKey).tls ? "tls" : kind}`;
  return { name: id?.name ?? null, transport, auth: id?.auth ?? (kind === "unix" ? "socket" : "none") };
}
