import { create } from "@bufbuild/protobuf";
import type { HandlerContext } from "@connectrpc/connect";
import { WatchAccessTokenResponseSchema, type WatchAccessTokenRequest, type WatchAccessTokenResponse } from "../../gen/tokenbroker/v1/token_service_pb.js";
import type { AuditLog } from "../audit/audit-log.js";
import type { CallScope } from "../audit/call-scope.js";
import { systemClock, type Clock } from "../broker/clock.js";
import type { RefreshEngine } from "../broker/engine.js";
import { watchLink } from "../broker/watch.js";
import type { LinkStore } from "../store/link-store.js";
import { callerOf } from "./audit-caller.js";
import { tokenOf } from "./convert.js";
import { durationMs, requireId } from "./input.js";
import type { WatchStreams } from "./watch-streams.js";
import { statusMessage, wireStatus } from "./wire-error.js";

/** What WatchAccessToken needs besides the engine. */
export interface WatchDeps {
  streams: WatchStreams;
  /** Where changes made by other processes and hosts are seen. */
  store: LinkStore;
  /** The stream's start gets an audit line of its own (its end is the RPC's ordinary line). */
  audit?: AuditLog | undefined;
  clock?: Clock | undefined;
  /** How often the row is read where the store does not announce changes (default broker/watch.ts POLL_MS). */
  pollMs?: number | undefined;
}

const METHOD = "/tokenbroker.v1.TokenService/WatchAccessToken";

/**
 * TokenService.WatchAccessToken (docs/design.md §3.5): checks the request
 * as ObtainAccessToken does, counts the stream against the caller's bound,
 * then turns each state of broker/watch.ts into a message. Caller auth ran
 * before (rpc/service.ts wrapStream), as for every call of the service.
 */
export async function* watchAccessToken(
  req: WatchAccessTokenRequest,
  ctx: HandlerContext,
  engine: RefreshEngine,
  deps: WatchDeps,
  defaultMinValidMs: number,
  served: (providerId: string, expiresAt: number | null) => void,
): AsyncGenerator<WatchAccessTokenResponse> {
  const key = { userId: requireId("user_id", req.userId), providerId: requireId("provider_id", req.providerId) };
  const minValidMs = durationMs("min_valid_for", req.minValidFor, defaultMinValidMs);
  const caller = callerOf(ctx);
  const release = deps.streams.acquire(caller.name ?? `(${caller.auth})`);
  try {
    deps.audit?.write({ event: "watch_start", caller, method: METHOD, userId: key.userId, providerId: key.providerId, outcome: { grpcCode: "OK", reason: "" }, providerContacted: false, durationMs: 0 });
    const signal = AbortSignal.any([ctx.signal, deps.streams.stopping]);
    // Refreshes the watch starts are audited as this caller's.
    const scope: CallScope = { caller, providerContacted: false };
    const states = watchLink({
      engine,
      store: deps.store,
      clock: deps.clock ?? systemClock,
      key,
      minValidMs,
      signal,
      cause: scope,
      ...(deps.pollMs !== undefined ? { pollMs: deps.pollMs } : {}),
    });
    for await (const state of states) {
      served(state.record.providerId, state.record.expiresAt);
      yield create(WatchAccessTokenResponseSchema, {
        token: tokenOf(state.record),
        generation: BigInt(state.generation),
        refreshFailing: state.failing !== undefined,
        ...(state.failing !== undefined ? { refreshFailure: statusMessage(wireStatus(state.failing, key)) } : {}),
      });
    }
  } finally {
    release();
  }
}
