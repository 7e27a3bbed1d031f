import * as grpc from "@grpc/grpc-js";
import { durationFromMs, durationMs, timestampMs } from "@bufbuild/protobuf/wkt";
import { createRegistry } from "@bufbuild/protobuf";
import { ConnectError, createClient } from "@connectrpc/connect";
import { createConnectTransport, createGrpcWebTransport } from "@connectrpc/connect-node";
import { file_google_rpc_error_details } from "../../gen/google/rpc/error_details_pb.js";
import { TokenService, type WatchAccessTokenResponse } from "../../gen/tokenbroker/v1/token_service_pb.js";
import { TEST_CALLER_TOKEN } from "./cli.js";
import { detailOf, detailsOfStatus } from "./error-details.js";
import { grpcClient } from "./grpc.js";

/** One message of a WatchAccessToken stream as a test sees it, with when it arrived (Date.now()). */
export interface Seen {
  at: number;
  accessToken: string;
  expiresAt: number | undefined;
  generation: bigint;
  failing: boolean;
  failureReason: string | undefined;
}

/** How a stream ended. */
export interface StreamEnd {
  at: number;
  /** The gRPC code (0: OK). */
  code: number;
  reason: string | undefined;
  retryDelayMs: number | undefined;
  message: string;
}

export interface Watcher {
  readonly seen: Seen[];
  readonly ended: Promise<StreamEnd>;
  /** The end, once it came (undefined while the stream is open). */
  end: StreamEnd | undefined;
  cancel(): void;
}

export type WatchVia = "grpc" | "connect" | "connect-json" | "grpc-web";

export interface WatchTarget {
  /** A grpc-js target (unix:///… or host:port) for "grpc"; an http:// base URL for the web transports. */
  target: string;
  callerToken?: string | undefined;
}

const registry = createRegistry(file_google_rpc_error_details);

function seenOf(m: WatchAccessTokenResponse): Seen {
  return {
    at: Date.now(),
    accessToken: m.token?.accessToken ?? "",
    expiresAt: m.token?.expiresAt === undefined ? undefined : timestampMs(m.token.expiresAt),
    generation: m.generation,
    failing: m.refreshFailing,
    failureReason: m.refreshFailure === undefined ? undefined : detailsOfStatus(m.refreshFailure)?.reason,
  };
}

function endOf(err: unknown): StreamEnd {
  const d = detailOf(err);
  const code = err instanceof ConnectError ? (err.code as number) : ((err as grpc.ServiceError).code as number);
  const message = err instanceof ConnectError ? err.rawMessage : ((err as grpc.ServiceError).details ?? "");
  return { at: Date.now(), code, reason: d?.reason, retryDelayMs: d?.retry?.retryDelay === undefined ? undefined : durationMs(d.retry.retryDelay), message };
}

/** Opens WatchAccessToken and records every message and the end. */
export function watch(via: WatchVia, to: WatchTarget, req: { userId: string; providerId: string; minValidForMs?: number }): Watcher {
  const request = { userId: req.userId, providerId: req.providerId, ...(req.minValidForMs !== undefined ? { minValidFor: durationFromMs(req.minValidForMs) } : {}) };
  const seen: Seen[] = [];
  const w: Watcher = { seen, end: undefined, ended: undefined as never, cancel: () => undefined };
  if (via === "grpc") {
    const client = grpcClient(TokenService, to.target, to.callerToken !== undefined ? { callerToken: to.callerToken } : {});
    const call = (client as unknown as { watchAccessToken: (r: unknown) => grpc.ClientReadableStream<WatchAccessTokenResponse> }).watchAccessToken(request);
    call.on("data", (m: WatchAccessTokenResponse) => seen.push(seenOf(m)));
    (w as { ended: Promise<StreamEnd> }).ended = new Promise<StreamEnd>((resolve) => {
      call.on("error", (err) => resolve(endOf(err)));
      call.on("status", (s: grpc.StatusObject) => {
        if (s.code === grpc.status.OK) resolve({ at: Date.now(), code: 0, reason: undefined, retryDelayMs: undefined, message: s.details });
      });
    }).then((e) => {
      w.end = e;
      client.close();
      return e;
    });
    w.cancel = () => call.cancel();
    return w;
  }
  const common = { baseUrl: to.target, httpVersion: "1.1" as const, jsonOptions: { registry } };
  const transport =
    via === "grpc-web" ? createGrpcWebTransport({ ...common, useBinaryFormat: true }) : createConnectTransport({ ...common, useBinaryFormat: via === "connect" });
  const abort = new AbortController();
  const headers = to.callerToken !== undefined ? { authorization: `Bearer ${to.callerToken}` } : {};
  (w as { ended: Promise<StreamEnd> }).ended = (async (): Promise<StreamEnd> => {
    try {
      for await (const m of createClient(TokenService, transport).watchAccessToken(request, { headers, signal: abort.signal })) seen.push(seenOf(m));
      return { at: Date.now(), code: 0, reason: undefined, retryDelayMs: undefined, message: "" };
    } catch (err) {
      return endOf(err);
    }
  })().then((e) => {
    w.end = e;
    return e;
  });
  w.cancel = () => abort.abort();
  return w;
}

export const TCP = (target: string): WatchTarget => ({ target, callerToken: TEST_CALLER_TOKEN });
