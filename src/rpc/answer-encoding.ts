import { create, createRegistry, isMessage, toBinary, toJsonString, type DescMessage, type JsonWriteOptions, type Message, type Registry } from "@bufbuild/protobuf";
import type { HandlerContext } from "@connectrpc/connect";
import { DETAIL_SCHEMAS } from "./wire-error.js";

/**
 * The type registry of every JSON encoder and decoder of the daemon: the
 * message types a `google.protobuf.Any` on the wire can hold. protobuf-es
 * writes an Any to JSON only for a type its registry names (the JSON form
 * spells the message out under `@type`), so without it connect-node fails a
 * whole ObtainAccessTokens answer that carries one per-provider error
 * (issue 23).
 */
export const wireRegistry: Registry = createRegistry(...DETAIL_SCHEMAS);

/** connect-node's `jsonOptions` on the web listener (Connect JSON, gRPC-Web JSON). */
export const WIRE_JSON_OPTIONS: Partial<JsonWriteOptions> & { registry: Registry } = { registry: wireRegistry };

/** The answer could not be encoded in the format the caller asked for: the caller gets INTERNAL. */
export class AnswerEncodingError extends Error {
  override readonly name = "AnswerEncodingError";
}

/** Answers grpc-js is about to send, already encoded here (grpc-transport.ts takes them instead of encoding again). */
const encodedAnswers = new WeakMap<object, Uint8Array>();

/**
 * The answer of a unary handler, encoded the way its transport will encode
 * it, before the call is observed: a response the transport could not
 * encode would reach the caller as INTERNAL while the audit line and the
 * metrics said OK. So it fails here, as AnswerEncodingError, and is observed
 * and answered as the INTERNAL it is. Returns the message to hand to the
 * transport.
 *
 * On the gRPC listeners the bytes are kept for grpc-js (`encodedAnswer`), so
 * the check costs nothing there, and an answer message handed out again
 * (token-answers.ts) is not encoded again; on the web listener connect-node
 * encodes once more (the web listener is not the hot path).
 */
export function checkedAnswer(desc: DescMessage, answer: unknown, ctx: HandlerContext): unknown {
  try {
    const message: Message = isMessage(answer, desc) ? answer : create(desc, answer as never);
    if (answerFormat(ctx) === "json") toJsonString(desc, message, WIRE_JSON_OPTIONS);
    // An answer handed out before (token-answers.ts) was encoded then: answers are never modified.
    else if (!encodedAnswers.has(message)) {
      const bytes = toBinary(desc, message);
      if (ctx.protocolName === "grpc") encodedAnswers.set(message, bytes);
    }
    return message;
  } catch (err) {
    throw new AnswerEncodingError(`the ${desc.typeName} answer could not be encoded`, { cause: err });
  }
}

/** The bytes checkedAnswer encoded for this answer on a gRPC listener (they live as long as the message). */
export function encodedAnswer(message: unknown): Uint8Array | undefined {
  if (typeof message !== "object" || message === null) return undefined;
  return encodedAnswers.get(message);
}

/**
 * How the transport writes this call's answer. Connect: `application/json`
 * (or `?encoding=json` on a GET) is JSON; gRPC-Web: `application/grpc-web+json`.
 * Everything else, and every call on a gRPC listener, is binary.
 */
export function answerFormat(ctx: HandlerContext): "json" | "binary" {
  if (ctx.protocolName !== "connect" && ctx.protocolName !== "grpc-web") return "binary";
  if (ctx.protocolName === "connect" && ctx.requestMethod === "GET") return new URL(ctx.url, "http://localhost").searchParams.get("encoding") === "json" ? "json" : "binary";
  const type = (ctx.requestHeader.get("content-type") ?? "").split(";")[0]!.trim().toLowerCase();
  return type === "application/json" || type === "application/grpc-web+json" ? "json" : "binary";
}
