import { fromBinary, fromJsonString, type DescMessage, type MessageShape } from "@bufbuild/protobuf";
import { createContextKey, type HandlerContext } from "@connectrpc/connect";
import { BrokerError, Reason } from "../errors/index.js";

/**
 * Request bytes that are not a valid message — malformed protobuf or JSON,
 * invalid UTF-8 in a string — are the caller's fault: INVALID_ARGUMENT with
 * the reason detail on every transport, never INTERNAL. The transports
 * decode strictly, note the problem on the call (`malformedRequestKey`)
 * instead of failing inside the library, and the handler wrapper refuses the
 * call once caller auth has passed (docs/design.md §6).
 */
export const malformedRequestKey = createContextKey<string | undefined>(undefined, { description: "why the request message could not be decoded" });

/** What grpc-js hands a handler when the request bytes do not decode. */
export class MalformedRequest {
  constructor(readonly problem: string) {}
}

// protobuf-es already decodes proto3 strings with a fatal UTF-8 decoder
// (utf8Validation VERIFY); Connect JSON's default decoder substitutes U+FFFD.
const strictUtf8 = new TextDecoder("utf-8", { fatal: true });

/** The grpc-js request deserializer: the message, or why the bytes are not one. */
export function decodeBinaryRequest<D extends DescMessage>(desc: D, bytes: Uint8Array): MessageShape<D> | MalformedRequest {
  try {
    return fromBinary(desc, bytes);
  } catch (err) {
    return new MalformedRequest(isUtf8Error(err) ? "invalid UTF-8 in a string field" : "malformed protobuf");
  }
}

/** Why `bytes` are not a binary `desc` message, or undefined. */
export function binaryProblem(desc: DescMessage, bytes: Uint8Array): string | undefined {
  const decoded = decodeBinaryRequest(desc, bytes);
  return decoded instanceof MalformedRequest ? decoded.problem : undefined;
}

/** Why `bytes` are not a JSON `desc` message as Connect reads one (unknown fields ignored), or undefined. */
export function jsonProblem(desc: DescMessage, bytes: Uint8Array): string | undefined {
  let text: string;
  try {
    text = strictUtf8.decode(bytes);
  } catch {
    return "invalid UTF-8";
  }
  try {
    fromJsonString(desc, text, { ignoreUnknownFields: true });
    return undefined;
  } catch {
    return "malformed JSON for this message";
  }
}

/** Throws the INVALID_ARGUMENT a call gets when its request did not decode. */
export function refuseMalformed(ctx: HandlerContext): void {
  const problem = ctx.values.get(malformedRequestKey);
  if (problem !== undefined) throw malformedError(ctx.method.input, problem);
}

export function malformedError(desc: DescMessage, problem: string): BrokerError {
  return new BrokerError(Reason.INVALID_ARGUMENT, `the request is not a valid ${desc.typeName}: ${problem}`);
}

function isUtf8Error(err: unknown): boolean {
  return err instanceof TypeError && (err as { code?: unknown }).code === "ERR_ENCODING_INVALID_ENCODED_DATA";
}
