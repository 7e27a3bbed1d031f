import type { DescMethod, DescService } from "@bufbuild/protobuf";
import type { HandlerContext, ServiceImpl } from "@connectrpc/connect";
import { BrokerError, Reason } from "../errors.js";
import type { CallerScope } from "../config/schema.js";
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

/** Called before every handler; throws BrokerError to refuse the call. */
export type CallGuard = (ctx: HandlerContext, service: RpcService) => void;
/** Observes every call's outcome (logging, metrics). Never throws. */
export type CallObserver = (info: { service: RpcService; method: DescMethod; ctx: HandlerContext; durationMs: number; error?: unknown }) => void;

export interface Hooks {
  guard?: CallGuard | undefined;
  observe?: CallObserver | undefined;
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
  return async (input: unknown, ctx: HandlerContext) => {
    const started = performance.now();
    try {
      hooks.guard?.(ctx, service);
      refuseMalformed(ctx);
      const result: unknown = await impl(input, ctx);
      hooks.observe?.({ service, method, ctx, durationMs: performance.now() - started });
      return result;
    } catch (err) {
      const stopped = isAbortLike(err) && (ctx.signal.aborted || stoppedWaitingForRefresh(err));
      const wire = toConnectError(stopped ? deadlineOrCancel(ctx, err) : err, subjectOf(input));
      hooks.observe?.({ service, method, ctx, durationMs: performance.now() - started, error: err });
      throw wire;
    }
  };
}

function wrapStream(service: RpcService, method: DescMethod, impl: AnyImpl, hooks: Hooks): AnyImpl {
  return async function* (input: unknown, ctx: HandlerContext) {
    const started = performance.now();
    try {
      hooks.guard?.(ctx, service);
      refuseMalformed(ctx);
      yield* impl(input, ctx) as AsyncIterable<unknown>;
      // A stream that ended because its deadline passed or the server is
      // stopping did not complete: say so rather than end with OK.
      if (ctx.signal.aborted) throw deadlineOrCancel(ctx);
      hooks.observe?.({ service, method, ctx, durationMs: performance.now() - started });
    } catch (err) {
      hooks.observe?.({ service, method, ctx, durationMs: performance.now() - started, error: err });
      throw toConnectError(err, subjectOf(input));
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
 * (docs/design.md §3 invariant 14).
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
