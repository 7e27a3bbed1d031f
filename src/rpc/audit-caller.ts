import type { HandlerContext } from "@connectrpc/connect";
import type { AuditCaller } from "../audit/call-scope.js";
import { callerKey, listenerKindKey, peerKey } from "./context.js";

/** The caller of a call as the audit log names it (after caller auth ran): `grpc+unix`, `connect+tls`, … */
export function callerOf(ctx: HandlerContext): AuditCaller {
  const id = ctx.values.get(callerKey);
  const kind = ctx.values.get(listenerKindKey);
  const transport = `${ctx.protocolName}+${ctx.values.get(peerKey).tls ? "tls" : kind}`;
  // Also on a refused call: who it was is what the line is for.
  const peer = ctx.values.get(peerKey);
  const caller: AuditCaller = { name: id?.name ?? null, transport, auth: id?.auth ?? (kind === "unix" ? "socket" : "none") };
  if (peer.cred !== undefined) {
    caller.uid = peer.cred.uid;
    caller.gid = peer.cred.gid;
    caller.pid = peer.cred.pid;
  }
  if (peer.address !== undefined) caller.peer = peer.address;
  if (id?.certName !== undefined) caller.cert = id.certName;
  if (id?.tokenId !== undefined) caller.tokenId = id.tokenId;
  return caller;
}
