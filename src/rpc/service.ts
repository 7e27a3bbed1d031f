import type { DescMethod, DescService } from "@bufbuild/protobuf";
import type { HandlerContext, ServiceImpl } from "@connectrpc/connect";
import type { CallScope } from "../audit/call-scope.js";
import { BrokerError, Reason } from "../errors/index.js";
import type { CallerScope } from "../config/schema.js";
import { checkedAnswer } from "./answer-encoding.js";
import { callerOf } from "./audit-caller.js";
import { callScopeKey, reachedHandlerKey } from "./context.js";
import { refuseMalformed } from "./request-decoding.js";
import { stoppedWaitingForRefresh } from "./caller-deadline.js";
import { subjectOf, toConnectError } from "./wire-error.js";

/**
 * One service implementation, written once against connect-es's handler
 * types and served by both transports (grpc-js and connect-node).
 */
export interface RpcService {
  readonly desc: DescService;
  readonly impl: Partial<Record<string, AnyImpl>>;
  /** The caller scope the service needs; undefined = open (health, reflection). */
  readonly scope?: CallerScope | undefined;
}

// The handler shapes of connect-es, erased: the adapters work per method kind.
// eslint-disable-next-line @typescript-eslint/no-explicit-any
export type AnyImpl = (input: any, ctx: HandlerContext) => any;

export function defineService<D extends DescService>(desc: D, impl: Partial<ServiceImpl<D>>, scope?: CallerScope): RpcService {
  return { desc, impl: impl as Partial<Record<string, AnyImpl>>, scope };
}

/**
 * Called before every handler with the request (undefined for a client
 * stream); throws BrokerError to refuse the call (or returns a promise that
 * rejects, when it must ask the store). It may fill in a request field the
 * caller's identity decides (an empty user_id of a caller bound to one user).
 */
export type CallGuard = (ctx: HandlerContext, service: RpcService, input: unknown) => void | Promise<void>;
/**
 * Observes every call's outcome (logging, metrics, audit). Never throws. A
 * promise it returns is awaited before the caller gets the answer: the
 * audit line is written first (audit/line-batch.ts).
 */
export type CallObserver = (info: CallInfo) => void | Promise<void>;

export interface CallInfo {
  service: RpcService;
  method: DescMethod;
  ctx: HandlerContext;
  durationMs: number;
  /** The request message (the first one of a stream); undefined for a client stream. */
  input: unknown;
  /** The response of a unary call that succeeded. */
  output?: unknown;
  error?: unknown;
  /** What the call's audit scope learned: who called, whether a provider was contacted. */
  scope: CallScope;
}

export interface Hooks {
  guard?: CallGuard | undefined;
  observe?: CallObserver | undefined;
  /** A web request to an RPC path that the protocol layer refused before any handler ran. */
  refused?: ((r: RefusedRequest) => void) | undefined;
}

/** What is known of a request refused before a handler (web/refusals.ts). */
export interface RefusedRequest {
  /** The request path (`/tokenbroker.v1.TokenService/ObtainAccessToken`), or `unknown` when it could not be read. */
  method: string;
  /** `connect+tcp`, `grpcweb+tls`, …, as the audit log names transports. */
  transport: string;
  httpStatus: number;
  /** The code the client reads, as gRPC spells it. */
  grpcCode: string;
  durationMs: number;
}

/**
 * Completes a service: methods later issues build answer UNIMPLEMENTED with
 * the reason detail, and every error is normalized to the one wire form, so
 * both transports answer identically.
 */
export function completeImpl(service: RpcService, hooks: Hooks): Record<string, AnyImpl> {
  const out: Record<string, AnyImpl> = {};
  for (const method of service.desc.methods) {
    const impl: AnyImpl =
      service.impl[method.localName] ??
      (() => {
        throw new BrokerError(Reason.UNIMPLEMENTED, `${service.desc.typeName}.${method.name} is not implemented yet`);
      });
    const streamingResponse = method.methodKind === "server_streaming" || method.methodKind === "bidi_streaming";
    out[method.localName] = streamingResponse ? wrapStream(service, method, impl, hooks) : wrapUnary(service, method, impl, hooks);
  }
  return out;
}

function wrapUnary(service: RpcService, method: DescMethod, impl: AnyImpl, hooks: Hooks): AnyImpl {
  const unaryInput = method.methodKind === "unary";
  return (input: unknown, ctx: HandlerContext) => {
    const scope: CallScope = { providerContacted: false };
    const request = unaryInput ? input : undefined;
    markReached(ctx);
    // The handler passes the scope on as the cause of the work it starts (audit/call-scope.ts).
    ctx.values.set(callScopeKey, scope);
    return (async () => {
      const started = performance.now();
      let observed: void | Promise<void> = undefined;
      try {
        const pending = guard(hooks, ctx, service, scope, request);
        if (pending !== undefined) await pending;
        refuseMalformed(ctx);
        // Encoded before it is observed: an answer the transport cannot encode is the INTERNAL the caller gets.
        const result: unknown = checkedAnswer(method.output, await impl(input, ctx), ctx);
        observed = hooks.observe?.({ service, method, ctx, durationMs: performance.now() - started, input: request, output: result, scope });
        if (observed !== undefined) await observed;
        return result;
      } catch (err) {
        if (observed !== undefined) throw err;
        const stopped = isAbortLike(err) && (ctx.signal.aborted || stoppedWaitingForRefresh(err));
        const failure = stopped ? deadlineOrCancel(ctx, err) : err;
        observed = hooks.observe?.({ service, method, ctx, durationMs: performance.now() - started, input: request, error: failure, scope });
        if (observed !== undefined) await observed;
        throw toConnectError(failure, subjectOf(input));
      }
    })();
  };
}

/** The web listener's per-request marker: this call reached a handler (its audit line comes from the observer). */
function markReached(ctx: HandlerContext): void {
  const marker = ctx.values.get(reachedHandlerKey);
  if (marker !== undefined) marker.reached = true;
}

/** Caller auth; the caller it names (even one it refuses) goes into the call's audit scope. */
function guard(hooks: Hooks, ctx: HandlerContext, service: RpcService, scope: CallScope, input: unknown): Promise<void> | undefined {
  let pending: void | Promise<void>;
  try {
    pending = hooks.guard?.(ctx, service, input);
  } catch (err) {
    scope.caller = callerOf(ctx);
    throw err;
  }
  if (pending === undefined) {
    scope.caller = callerOf(ctx);
    return undefined;
  }
  return pending.finally(() => {
    scope.caller = callerOf(ctx);
  });
}

function wrapStream(service: RpcService, method: DescMethod, impl: AnyImpl, hooks: Hooks): AnyImpl {
  // A stream's scope only collects its caller for its closing line: the
  // refreshes WatchAccessToken starts get a scope of their own
  // (watch-handler.ts), and no other stream contacts a provider.
  const request = method.methodKind === "server_streaming" ? (input: unknown) => input : () => undefined;
  return async function* (input: unknown, ctx: HandlerContext) {
    const started = performance.now();
    const scope: CallScope = { providerContacted: false };
    let observed: void | Promise<void> = undefined;
    markReached(ctx);
    try {
      const pending = guard(hooks, ctx, service, scope, request(input));
      if (pending !== undefined) await pending;
      refuseMalformed(ctx);
      yield* impl(input, ctx) as AsyncIterable<unknown>;
      // A stream that ended because its deadline passed or the server is
      // stopping did not complete: say so rather than end with OK.
      if (ctx.signal.aborted) throw deadlineOrCancel(ctx);
      observed = hooks.observe?.({ service, method, ctx, durationMs: performance.now() - started, input: request(input), scope });
      if (observed !== undefined) await observed;
    } catch (err) {
      if (observed !== undefined) throw err;
      // A stream the caller cancelled, whose deadline passed or that shutdown cut (WatchAccessToken
      // ends by its signal's reason) stopped; it did not fail internally.
      const failure = ctx.signal.aborted && !(err instanceof BrokerError) ? deadlineOrCancel(ctx) : err;
      observed = hooks.observe?.({ service, method, ctx, durationMs: performance.now() - started, input: request(input), error: failure, scope });
      if (observed !== undefined) await observed;
      throw toConnectError(failure, subjectOf(input));
    }
  };
}

function isAbortLike(err: unknown): boolean {
  return err instanceof Error && (err.name === "AbortError" || err.name === "TimeoutError");
}

/**
 * Why a call stopped early. A caller that stopped waiting for a refresh
 * (callerPatience fired just before its deadline) learns that the refresh is
 * still running: it completes and is stored, so asking again is cheap
 * (docs/design.md §3 invariant 11).
 */
function deadlineOrCancel(ctx: HandlerContext, err?: unknown): BrokerError {
  const left = ctx.timeoutMs();
  const refreshing = stoppedWaitingForRefresh(err);
  if (refreshing && !ctx.signal.aborted) {
    return new BrokerError(Reason.DEADLINE_EXCEEDED, "the caller's deadline passed while a refresh of this link is in progress; it completes and is stored", {
      metadata: { refresh_in_progress: "true" },
    });
  }
  if (left !== undefined && left <= 0) {
    return new BrokerError(Reason.DEADLINE_EXCEEDED, "the caller's deadline passed", refreshing ? { metadata: { refresh_in_progress: "true" } } : {});
  }
  return new BrokerError(Reason.SHUTTING_DOWN, "the call was cancelled or the server is stopping");
}
