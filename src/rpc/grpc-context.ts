import type * as grpc from "@grpc/grpc-js";
import type { DescMethod, DescService } from "@bufbuild/protobuf";
import { Code, ConnectError, createContextValues, type HandlerContext } from "@connectrpc/connect";
import { certificateNames } from "../listen/tls-files.js";
import { authorizationKey, listenerKindKey, peerKey, tokenlessKey, type PeerInfo } from "./context.js";
import { credentialsFromPeer } from "./socket-peer.js";
import { onAbort } from "./abort-fanout.js";

export interface CallEnv {
  shutdownSignal: AbortSignal;
  listenerKind: "unix" | "tcp";
  /** The server's listener speaks TLS; `mtls`: it asks clients for a certificate. */
  tls: "none" | "tls" | "mtls";
  /** Whether a call without a caller credential is served (undefined: by listenerKind). */
  allowTokenless?: boolean | undefined;
}

const PLAIN: PeerInfo = { tls: false, certNames: undefined };
const TLS_ONLY: PeerInfo = { tls: true, certNames: undefined };

/**
 * The peer of a call: on a Unix socket the kernel's credentials of the
 * connection (socket-peer.ts), on TCP its address; grpc-js reports a peer
 * certificate only when the listener's client CA verified it.
 */
function peerOf(call: AnyCall, env: CallEnv): PeerInfo {
  if (env.listenerKind === "unix") {
    const cred = credentialsFromPeer(call.getPeer());
    return cred === undefined ? PLAIN : { ...PLAIN, cred };
  }
  const address = call.getPeer();
  if (env.tls === "none") return { ...PLAIN, address };
  if (env.tls === "tls") return { ...TLS_ONLY, address };
  const cert = call.getAuthContext()?.sslPeerCertificate;
  return cert === undefined ? { ...TLS_ONLY, address } : { tls: true, certNames: certificateNames(cert), address };
}

type AnyCall = grpc.ServerUnaryCall<unknown, unknown> | grpc.ServerWritableStream<unknown, unknown> | grpc.ServerDuplexStream<unknown, unknown>;

/**
 * A connect-es HandlerContext for a grpc-js call, built for the hot path:
 * headers are materialized only when a handler reads them, and the abort
 * signal only when something reads `signal` (a cache hit never does: the
 * engine asks for it only once a call has to wait). Until then a call costs
 * no AbortController, no timer and no listener on the call or on shutdown;
 * grpc-js reports every finished call as "cancelled" once its stream closes,
 * and an abort reason built for each was a sixth of a no-op call's CPU
 * (measured with h2load). Once built, the signal fires on the deadline, on
 * client cancellation and on shutdown, including one that came before it
 * was built.
 */
export function grpcHandlerContext(desc: DescService, method: DescMethod, call: AnyCall, env: CallEnv): { ctx: HandlerContext; done: () => void } {
  const deadline = call.getDeadline();
  const deadlineMs = deadline instanceof Date ? deadline.getTime() : deadline;
  const finite = Number.isFinite(deadlineMs);
  let controller: AbortController | undefined;
  let timer: NodeJS.Timeout | undefined;
  let finished = false;
  let unsubscribe: (() => void) | undefined;
  const onShutdown = (): void => controller?.abort(new ConnectError("shutting down", Code.Unavailable));
  const onCancelled = (): void => controller?.abort(new ConnectError("the call was cancelled", Code.Canceled));
  const signal = (): AbortSignal => {
    if (controller !== undefined) return controller.signal;
    controller = new AbortController();
    if (finished) return controller.signal;
    if (finite) {
      const left = deadlineMs - Date.now();
      if (left <= 0) controller.abort(new ConnectError("the deadline passed", Code.DeadlineExceeded));
      else timer = setTimeout(() => controller!.abort(new ConnectError("the deadline passed", Code.DeadlineExceeded)), left);
    }
    unsubscribe = onAbort(env.shutdownSignal, onShutdown);
    if (call.cancelled) onCancelled();
    else (call as grpc.ServerUnaryCall<unknown, unknown>).once("cancelled", onCancelled);
    return controller.signal;
  };

  let requestHeader: Headers | undefined;
  let responseHeader: Headers | undefined;
  let responseTrailer: Headers | undefined;
  const ctx: HandlerContext = {
    service: desc,
    method,
    get signal() {
      return signal();
    },
    timeoutMs: () => (finite ? deadlineMs - Date.now() : undefined),
    requestMethod: "POST",
    get requestHeader() {
      if (requestHeader === undefined) {
        requestHeader = new Headers();
        for (const [k, v] of Object.entries(call.metadata.getMap())) if (typeof v === "string") requestHeader.set(k, v);
      }
      return requestHeader;
    },
    get responseHeader() {
      return (responseHeader ??= new Headers());
    },
    get responseTrailer() {
      return (responseTrailer ??= new Headers());
    },
    protocolName: "grpc",
    values: createContextValues()
      .set(listenerKindKey, env.listenerKind)
      .set(peerKey, peerOf(call, env))
      .set(tokenlessKey, env.allowTokenless)
      .set(authorizationKey, (call.metadata.get("authorization")[0] as string | undefined) ?? null),
    url: `/${desc.typeName}/${method.name}`,
  };
  return {
    ctx,
    done() {
      finished = true;
      if (controller === undefined) return;
      if (timer !== undefined) clearTimeout(timer);
      unsubscribe?.();
      (call as grpc.ServerUnaryCall<unknown, unknown>).off("cancelled", onCancelled);
    },
  };
}
