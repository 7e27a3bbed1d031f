/**
 * Answers in every format the transports write (issue 23, item 1): every
 * google.rpc detail the wire can emit — for every reason, with every detail
 * field set, at the edges of RetryInfo — has a JSON form with the type
 * registry the web listener is given, inside a gRPC status and inside
 * ObtainAccessTokens' per-provider Status; and an answer a transport could
 * not encode is observed (audit, metrics) as the INTERNAL the caller gets,
 * never as OK.
 */
import { create, fromJsonString, toBinary, toJsonString, type DescMessage } from "@bufbuild/protobuf";
import { anyUnpack, timestampFromMs } from "@bufbuild/protobuf/wkt";
import { Code, ConnectError, createHandlerContext, type HandlerContext } from "@connectrpc/connect";
import { describe, expect, it } from "vitest";
import { file_google_rpc_error_details } from "../../gen/google/rpc/error_details_pb.js";
import { StatusSchema } from "../../gen/google/rpc/status_pb.js";
import { TokenService, ObtainAccessTokensResponseSchema, ObtainAccessTokenResponseSchema } from "../../gen/tokenbroker/v1/token_service_pb.js";
import { BrokerError, Reason } from "../../src/errors/index.js";
import { AnswerEncodingError, WIRE_JSON_OPTIONS, answerFormat, checkedAnswer, encodedAnswer, wireRegistry } from "../../src/rpc/answer-encoding.js";
import { completeImpl, defineService, type CallInfo } from "../../src/rpc/service.js";
import { DETAIL_SCHEMAS, MAX_RETRY_DELAY_MS, statusMessage, toConnectError, wireStatus, type WireDetail } from "../../src/rpc/wire-error.js";

const SUBJECT = { userId: "ann o'neil", providerId: "github" };
/** RetryInfo at its edges: none, sub-millisecond, ordinary, past the JSON range, past int64, unbounded. */
const RETRY_AFTER_MS = [undefined, 0, 0.4, 30_000, 3.2e14, 1e23, Number.POSITIVE_INFINITY, -5];

/** Every error the domain can raise, with every detail field filled in. */
function everyError(): BrokerError[] {
  return Object.values(Reason).flatMap((reason) =>
    RETRY_AFTER_MS.map(
      (retryAfterMs) =>
        new BrokerError(reason, `${reason} happened`, {
          ...(retryAfterMs === undefined ? {} : { retryAfterMs }),
          hint: "do the thing",
          failureReason: "invalid_grant",
          failedAt: Date.UTC(2026, 0, 2),
          field: "provider_ids[1]",
          metadata: { refresh_in_progress: "true" },
        }),
    ),
  );
}

const obtainTokens = TokenService.method.obtainAccessTokens;

function ctxFor(protocolName: "grpc" | "connect" | "grpc-web", contentType: string, opts: { requestMethod?: string; url?: string } = {}): HandlerContext {
  return createHandlerContext({
    service: TokenService,
    method: obtainTokens,
    protocolName,
    requestMethod: opts.requestMethod ?? "POST",
    url: opts.url ?? `http://127.0.0.1/${TokenService.typeName}/${obtainTokens.name}`,
    requestHeader: { "content-type": contentType },
  });
}

describe("the JSON type registry holds every detail the wire emits", () => {
  it("every detail type of every reason's error is in the registry, and DETAIL_SCHEMAS names them all", () => {
    const emitted = new Set<string>();
    for (const err of everyError()) {
      for (const d of wireStatus(err, SUBJECT).details) emitted.add(d.desc.typeName);
      // The same error after it has been on the wire once (a ConnectError carrying our details).
      for (const d of wireStatus(toConnectError(err, SUBJECT)).details) emitted.add(d.desc.typeName);
    }
    expect([...emitted].sort()).toEqual(["google.rpc.BadRequest", "google.rpc.ErrorInfo", "google.rpc.Help", "google.rpc.RetryInfo"]);
    expect(DETAIL_SCHEMAS.map((d) => d.typeName).sort()).toEqual([...emitted].sort());
    for (const typeName of emitted) expect(wireRegistry.getMessage(typeName), typeName).toBeDefined();
  });

  it("each error's google.rpc.Status encodes to JSON and reads back the same, alone and in an ObtainAccessTokens answer", () => {
    for (const err of everyError()) {
      const label = `${err.reason} retryAfterMs=${err.detail.retryAfterMs}`;
      const wire = wireStatus(err, SUBJECT);
      const status = statusMessage(wire);
      const json = toJsonString(StatusSchema, status, WIRE_JSON_OPTIONS);
      const back = fromJsonString(StatusSchema, json, WIRE_JSON_OPTIONS);
      expect(toBinary(StatusSchema, back), label).toEqual(toBinary(StatusSchema, status));
      // Each detail is spelled out under its @type, not left opaque.
      const parsed = JSON.parse(json) as { details: Array<Record<string, unknown>> };
      expect(parsed.details.map((d) => d["@type"]), label).toEqual(wire.details.map((d) => `type.googleapis.com/${d.desc.typeName}`));
      for (const [i, d] of wire.details.entries()) expect(anyUnpack(back.details[i]!, d.desc as DescMessage), label).toEqual(d.value);

      const answer = create(ObtainAccessTokensResponseSchema, { results: [{ providerId: "github", outcome: { case: "error", value: status } }] });
      expect(() => toJsonString(ObtainAccessTokensResponseSchema, answer, WIRE_JSON_OPTIONS), label).not.toThrow();
    }
  });

  it("RetryInfo is capped where a Duration has a JSON form", () => {
    const delays = RETRY_AFTER_MS.filter((ms) => ms !== undefined).map((ms) => {
      const retry = wireStatus(new BrokerError(Reason.PROVIDER_RATE_LIMITED, "slow down", { retryAfterMs: ms })).details.find(
        (d: WireDetail) => d.desc.typeName === "google.rpc.RetryInfo",
      );
      const delay = (retry?.value as { retryDelay?: { seconds: bigint; nanos: number } } | undefined)?.retryDelay;
      return delay === undefined ? undefined : Number(delay.seconds) * 1000 + delay.nanos / 1e6;
    });
    expect(delays).toEqual([0, 1, 30_000, MAX_RETRY_DELAY_MS, MAX_RETRY_DELAY_MS, MAX_RETRY_DELAY_MS, 0]);
  });

  it("without the registry the same answer has no JSON form (what connect-node answered before: INTERNAL for the whole call)", () => {
    const status = statusMessage(wireStatus(new BrokerError(Reason.PROVIDER_NOT_FOUND, "no such provider"), SUBJECT));
    expect(() => toJsonString(StatusSchema, status)).toThrow(/is not in the type registry/);
    // A registry of the whole google.rpc error_details file is what a client in another language has; ours is a subset of it.
    for (const d of DETAIL_SCHEMAS) expect(file_google_rpc_error_details.messages.map((m) => m.typeName)).toContain(d.typeName);
  });
});

describe("an answer the transport cannot encode is observed as the INTERNAL the caller gets", () => {
  it("tells the format each transport writes", () => {
    expect(answerFormat(ctxFor("grpc", "application/grpc"))).toBe("binary");
    expect(answerFormat(ctxFor("connect", "application/json"))).toBe("json");
    expect(answerFormat(ctxFor("connect", "application/json; charset=utf-8"))).toBe("json");
    expect(answerFormat(ctxFor("connect", "application/proto"))).toBe("binary");
    expect(answerFormat(ctxFor("grpc-web", "application/grpc-web+json"))).toBe("json");
    expect(answerFormat(ctxFor("grpc-web", "application/grpc-web+proto"))).toBe("binary");
    expect(answerFormat(ctxFor("grpc-web", "application/grpc-web"))).toBe("binary");
    expect(answerFormat(ctxFor("connect", "", { requestMethod: "GET", url: "http://h/x?encoding=json&message=%7B%7D" }))).toBe("json");
    expect(answerFormat(ctxFor("connect", "", { requestMethod: "GET", url: "http://h/x?encoding=proto&message=" }))).toBe("binary");
  });

  /** A token past 9999-12-31: binary writes it, JSON cannot. */
  const farToken = { token: { accessToken: "at", tokenType: "Bearer", expiresAt: timestampFromMs(Date.UTC(12000, 0, 1)) } };

  async function callObserved(ctx: HandlerContext): Promise<{ seen: CallInfo[]; outcome: unknown }> {
    const seen: CallInfo[] = [];
    const impl = completeImpl(defineService(TokenService, { obtainAccessToken: () => farToken }), { observe: (c) => void seen.push(c) });
    const outcome = await Promise.resolve(impl.obtainAccessToken!({ userId: "ann", providerId: "p" }, ctx)).then(
      (ok: unknown) => ok,
      (err: unknown) => err,
    );
    return { seen, outcome };
  }

  it("Connect JSON and gRPC-Web JSON: INTERNAL observed and answered, without the encoder's message", async () => {
    for (const ctx of [ctxFor("connect", "application/json"), ctxFor("grpc-web", "application/grpc-web+json")]) {
      const { seen, outcome } = await callObserved(ctx);
      expect(seen).toHaveLength(1);
      expect(seen[0]!.error).toBeInstanceOf(AnswerEncodingError);
      expect(seen[0]!.output).toBeUndefined();
      expect(wireStatus(seen[0]!.error)).toMatchObject({ code: Code.Internal, reason: "INTERNAL" });
      expect(outcome).toBeInstanceOf(ConnectError);
      expect((outcome as ConnectError).code).toBe(Code.Internal);
      expect((outcome as ConnectError).rawMessage).toBe("internal error");
    }
  });

  it("binary formats: the same answer is OK; on gRPC its bytes are kept for grpc-js with the message", async () => {
    for (const ctx of [ctxFor("connect", "application/proto"), ctxFor("grpc-web", "application/grpc-web+proto"), ctxFor("grpc", "application/grpc")]) {
      const { seen, outcome } = await callObserved(ctx);
      expect(seen.map((c) => c.error)).toEqual([undefined]);
      expect(outcome).toMatchObject({ token: { accessToken: "at" } });
      const bytes = encodedAnswer(outcome);
      if (ctx.protocolName === "grpc") {
        expect(bytes).toEqual(toBinary(ObtainAccessTokenResponseSchema, create(ObtainAccessTokenResponseSchema, farToken)));
        // Kept while the message lives: an answer handed out again is not encoded again.
        expect(encodedAnswer(outcome)).toBe(bytes);
      } else expect(bytes).toBeUndefined();
    }
  });

  it("checkedAnswer names the message type and keeps the encoder's error as its cause", () => {
    const err = (() => {
      try {
        checkedAnswer(ObtainAccessTokenResponseSchema, farToken, ctxFor("connect", "application/json"));
      } catch (e) {
        return e;
      }
      return undefined;
    })();
    expect(err).toBeInstanceOf(AnswerEncodingError);
    expect((err as Error).message).toBe("the tokenbroker.v1.ObtainAccessTokenResponse answer could not be encoded");
    expect(String((err as Error).cause)).toMatch(/Timestamp/);
  });
});
