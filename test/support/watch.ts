import * as grpc from "@grpc/grpc-js";
import { durationFromMs, durationMs, timestampMs } from "@bufbuild/protobuf/wkt";
import { createRegistry } from "@bufbuild/protobuf";
import { expect } from "vitest";
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
  /** "grpc": a connection of its own, not shared with the test's other clients of the target. */
  ownConnection?: boolean | undefined;
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
    const client = grpcClient(TokenService, to.target, {
      ...(to.callerToken !== undefined ? { callerToken: to.callerToken } : {}),
      ...(to.ownConnection === true ? { ownConnection: true } : {}),
    });
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

/** The distinct tokens a watcher saw, in order (a refresh_failing message repeats its token). */
export function rotations(seen: Seen[]): Seen[] {
  return seen.filter((s, i) => i === 0 || s.accessToken !== seen[i - 1]!.accessToken);
}

/**
 * The watch's promise, checked for each watcher (still open at `stoppedAt`):
 * it began with `first`; every token arrived valid for `minValidMs` and
 * before the previous one dropped below it, with a greater generation, none
 * flagged refresh_failing; the last one still had `minValidMs` at the stop.
 * Every watcher saw the same tokens in the same order, which it returns.
 */
export function expectUnbrokenRotations(watchers: Array<[string, Watcher]>, first: string, minValidMs: number, stoppedAt: number): string[] {
  const sequences = watchers.map(([name, w]) => {
    expect(w.end, `${name} ended early: ${JSON.stringify(w.end)}`).toBeUndefined();
    const seq = rotations(w.seen);
    expect(seq[0]!.accessToken, name).toBe(first);
    for (const [i, s] of seq.entries()) {
      expect(s.failing, `${name} #${i} flagged refresh_failing`).toBe(false);
      expect(s.expiresAt! - s.at, `${name} #${i}: ${s.expiresAt! - s.at} ms left on arrival`).toBeGreaterThanOrEqual(minValidMs);
      if (i === 0) continue;
      const prev = seq[i - 1]!;
      expect(prev.expiresAt! - s.at, `${name} #${i}: the previous token had ${prev.expiresAt! - s.at} ms left`).toBeGreaterThanOrEqual(minValidMs);
      expect(s.generation > prev.generation, `${name} #${i}: generation ${s.generation} after ${prev.generation}`).toBe(true);
    }
    expect(seq.at(-1)!.expiresAt! - stoppedAt, `${name}: the last token when the watch stopped`).toBeGreaterThanOrEqual(minValidMs);
    return seq.map((s) => s.accessToken);
  });
  for (const seq of sequences.slice(1)) expect(seq).toEqual(sequences[0]);
  return sequences[0]!;
}
