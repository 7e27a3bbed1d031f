/**
 * docs/design.md §3 invariant 11, the RPC side: a caller whose deadline
 * passes while a refresh runs is told so — DEADLINE_EXCEEDED with
 * metadata refresh_in_progress — and the answer must leave before the
 * deadline, because the client's own timer fires at the deadline and
 * reports a bare DEADLINE_EXCEEDED. In process, with connect's own
 * HandlerContext, so the margin is measured without a daemon's scheduling
 * noise (test/faults/deadline-detail.test.ts covers the same through the
 * wire with 1 s deadlines). The handler is the engine's real wait:
 * raceSignal on a refresh that does not finish, with callerPatience.
 */
import { Code, ConnectError, createHandlerContext, type HandlerContext } from "@connectrpc/connect";
import { describe, expect, it } from "vitest";
import { ErrorInfoSchema } from "../../gen/google/rpc/error_details_pb.js";
import { TokenService } from "../../gen/tokenbroker/v1/token_service_pb.js";
import { raceSignal } from "../../src/broker/race-signal.js";
import { callerPatience } from "../../src/rpc/caller-deadline.js";
import { completeImpl, defineService } from "../../src/rpc/service.js";

const method = TokenService.method.obtainAccessToken;

function contextWithDeadline(timeoutMs: number): HandlerContext {
  return createHandlerContext({ service: TokenService, method, protocolName: "grpc", requestMethod: "POST", url: "/tokenbroker.v1.TokenService/ObtainAccessToken", timeoutMs });
}

/** A refresh that is still running when the caller gives up. */
const stillRefreshing = (): Promise<never> => new Promise<never>(() => undefined);

describe("a caller's deadline during a refresh", () => {
  it("callerPatience stops waiting before the deadline: a fifth of the time left (here 200 ms; between 50 and 250 ms)", async () => {
    const ctx = contextWithDeadline(1_000);
    const deadline = Date.now() + ctx.timeoutMs()!;
    const signal = callerPatience(ctx);
    await new Promise((resolve) => signal.addEventListener("abort", resolve, { once: true }));
    const early = deadline - Date.now();
    // Before the deadline, with room to put the answer on the wire; not much sooner.
    expect(early).toBeGreaterThanOrEqual(50); // timers may run late on a loaded host
    expect(early).toBeLessThanOrEqual(202);
    expect(ctx.signal.aborted).toBe(false);
  });

  it("is answered DEADLINE_EXCEEDED with refresh_in_progress, before the deadline", async () => {
    const impl = completeImpl(defineService(TokenService, { obtainAccessToken: (_req, ctx) => raceSignal(stillRefreshing(), callerPatience(ctx)) }), {});
    const ctx = contextWithDeadline(600);
    const err: unknown = await Promise.resolve(impl.obtainAccessToken!({}, ctx)).then(
      () => new Error("expected the call to fail"),
      (e: unknown) => e,
    );
    expect(ctx.signal.aborted).toBe(false); // answered while the caller still listens
    expect(err).toBeInstanceOf(ConnectError);
    const wire = err as ConnectError;
    expect(wire.code).toBe(Code.DeadlineExceeded);
    expect(wire.findDetails(ErrorInfoSchema)[0]?.metadata.refresh_in_progress).toBe("true");
  });
});
