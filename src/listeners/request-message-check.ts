import type { DescMessage } from "@bufbuild/protobuf";
import {
  createAsyncIterable,
  encodeEnvelope,
  readAllBytes,
  type Compression,
  type UniversalHandler,
  type UniversalServerRequest,
} from "@connectrpc/connect/protocol";
import { compressionBrotli, compressionGzip } from "@connectrpc/connect-node";
import { binaryProblem, jsonProblem, malformedRequestKey } from "../rpc/request-decoding.js";

/**
 * Checks request messages on the web listener before connect-node parses
 * them. connect-node answers INTERNAL (HTTP 500) for a binary message that
 * does not decode and reads JSON with a decoder that turns invalid UTF-8 into
 * U+FFFD; neither can be configured. So each request message is decoded
 * strictly here first; one that fails is noted on the call
 * (`malformedRequestKey`) and handed on as an empty message, which the
 * handler wrapper refuses with INVALID_ARGUMENT after caller auth, as on
 * gRPC (docs/design.md §6).
 *
 * Only methods whose request is a single message are checked (unary and
 * server streaming): their body is read whole anyway. Request streams go to
 * connect-node as they arrive.
 */
export function checkRequestMessages(handlers: UniversalHandler[], readMaxBytes: number): void {
  for (const [i, h] of handlers.entries()) {
    if (h.method.methodKind !== "unary" && h.method.methodKind !== "server_streaming") continue;
    const input = h.method.input;
    // Object.assign keeps the routing properties connect-node reads off the handler.
    handlers[i] = Object.assign(async (req: UniversalServerRequest) => h(await checked(input, req, readMaxBytes)), h);
  }
}

const CONNECT = /^application\/(connect\+)?(?:(json)(?:; ?charset=utf-?8)?|proto)$/i;
const GRPC_WEB = /^application\/grpc-web(?:\+(?:(json)(?:; ?charset=utf-?8)?|proto))?$/i;
const COMPRESSIONS: Compression[] = [compressionGzip, compressionBrotli];
const COMPRESSED_FLAG = 0b01;

interface Framing {
  enveloped: boolean;
  json: boolean;
  /** The header naming the body's (unary) or each message's (enveloped) compression. */
  encodingHeader: string;
}

function framingOf(contentType: string | null): Framing | undefined {
  const connect = contentType === null ? null : CONNECT.exec(contentType);
  if (connect !== null) {
    const enveloped = connect[1] !== undefined;
    return { enveloped, json: connect[2] !== undefined, encodingHeader: enveloped ? "connect-content-encoding" : "content-encoding" };
  }
  const grpcWeb = contentType === null ? null : GRPC_WEB.exec(contentType);
  if (grpcWeb !== null) return { enveloped: true, json: grpcWeb[1] !== undefined, encodingHeader: "grpc-encoding" };
  return undefined;
}

async function checked(desc: DescMessage, req: UniversalServerRequest, readMaxBytes: number): Promise<UniversalServerRequest> {
  const framing = req.method === "POST" ? framingOf(req.header.get("content-type")) : undefined;
  const values = req.contextValues;
  if (framing === undefined || values === undefined || !isAsyncIterable(req.body)) return req;
  let bytes: Uint8Array;
  try {
    bytes = await readAllBytes(req.body, readMaxBytes, framing.enveloped ? null : req.header.get("content-length"));
  } catch (err) {
    // Too large or cut off: connect-node answers that as it always does.
    return { ...req, body: failing(err) };
  }
  const problem = await problemOf(desc, framing, bytes, req.header, readMaxBytes);
  if (problem === undefined) return { ...req, body: createAsyncIterable([bytes]) };
  values.set(malformedRequestKey, problem);
  const empty = framing.json ? new TextEncoder().encode("{}") : new Uint8Array(0);
  const header = new Headers(req.header);
  header.delete("content-length");
  if (!framing.enveloped) header.delete(framing.encodingHeader);
  return { ...req, header, body: createAsyncIterable([framing.enveloped ? encodeEnvelope(0, empty) : empty]) };
}

/** Why the body's messages do not decode; undefined when they do, or when connect-node should judge the body itself. */
async function problemOf(desc: DescMessage, framing: Framing, bytes: Uint8Array, header: Headers, readMaxBytes: number): Promise<string | undefined> {
  const encoding = header.get(framing.encodingHeader);
  const compression = encoding === null || encoding === "identity" ? null : COMPRESSIONS.find((c) => c.name === encoding);
  // An encoding connect-node does not accept: it refuses the call itself.
  if (compression === undefined) return undefined;
  const messages: Uint8Array[] = [];
  try {
    if (!framing.enveloped) {
      messages.push(compression === null ? bytes : await compression.decompress(bytes, readMaxBytes));
    } else {
      for (let pos = 0; pos < bytes.length; ) {
        if (bytes.length - pos < 5) return "truncated message frame";
        const flags = bytes[pos] as number;
        const length = new DataView(bytes.buffer, bytes.byteOffset + pos + 1, 4).getUint32(0);
        pos += 5;
        if (length > bytes.length - pos) return "truncated message frame";
        const data = bytes.subarray(pos, pos + length);
        pos += length;
        if ((flags & ~COMPRESSED_FLAG) !== 0 || ((flags & COMPRESSED_FLAG) !== 0 && compression === null)) return undefined;
        messages.push((flags & COMPRESSED_FLAG) !== 0 && compression !== null ? await compression.decompress(data, readMaxBytes) : data);
      }
    }
  } catch {
    // A body that does not decompress: connect-node's own answer stands.
    return undefined;
  }
  for (const m of messages) {
    const problem = framing.json ? jsonProblem(desc, m) : binaryProblem(desc, m);
    if (problem !== undefined) return problem;
  }
  return undefined;
}

function isAsyncIterable(body: unknown): body is AsyncIterable<Uint8Array> {
  return typeof body === "object" && body !== null && Symbol.asyncIterator in body;
}

async function* failing(err: unknown): AsyncIterable<Uint8Array> {
  throw err;
}
