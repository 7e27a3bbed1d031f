/**
 * Hand-made request bytes for tests that attack the transports' decoding:
 * invalid UTF-8 in each string field of a request message (found from its
 * descriptor, so a new string field is covered without editing the test),
 * malformed protobuf, and raw callers for gRPC (grpc-js with identity
 * serializers), Connect (unary and streaming) and gRPC-Web over fetch.
 */
import * as grpc from "@grpc/grpc-js";
import { fromBinary, ScalarType, type DescMessage, type DescMethod } from "@bufbuild/protobuf";
import { ConnectError } from "@connectrpc/connect";
import { findTrailerError } from "@connectrpc/connect/protocol-grpc";
import { detailOf, detailsOfConnectJson, type ErrorDetails } from "./error-details.js";

/** C3 28: a two-byte lead followed by ASCII; ED A0 80: an encoded surrogate (CESU-8); FF: never valid. */
export const INVALID_UTF8: Uint8Array[] = [Uint8Array.of(0xc3, 0x28), Uint8Array.of(0x61, 0xed, 0xa0, 0x80), Uint8Array.of(0xff)];

function varint(n: number): number[] {
  const out: number[] = [];
  while (n > 0x7f) {
    out.push((n & 0x7f) | 0x80);
    n >>>= 7;
  }
  out.push(n);
  return out;
}

/** One length-delimited field. */
export function lenField(no: number, data: Uint8Array): Uint8Array {
  return Uint8Array.from([...varint((no << 3) | 2), ...varint(data.length), ...data]);
}

export interface BadString {
  /** e.g. `user_id`, `provider_ids[]`, `extra{key}` */
  field: string;
  bytes: Uint8Array;
}

/** A request per string field of `desc` (scalar, repeated, map key and value) carrying `bad` there and nothing else. */
export function badStringRequests(desc: DescMessage, bad: Uint8Array): BadString[] {
  const out: BadString[] = [];
  for (const f of desc.fields) {
    if ((f.fieldKind === "scalar" || f.fieldKind === "list") && f.scalar === ScalarType.STRING) {
      out.push({ field: f.fieldKind === "list" ? `${f.name}[]` : f.name, bytes: lenField(f.number, bad) });
    } else if (f.fieldKind === "map" && f.mapKey === ScalarType.STRING) {
      out.push({ field: `${f.name}{key}`, bytes: lenField(f.number, lenField(1, bad)) });
      if (f.mapKind === "scalar" && f.scalar === ScalarType.STRING) out.push({ field: `${f.name}{value}`, bytes: lenField(f.number, Uint8Array.from([...lenField(1, Uint8Array.of(0x6b)), ...lenField(2, bad)])) });
    }
  }
  return out;
}

/** Bytes that are no protobuf message of any type. */
export const MALFORMED_PROTOBUF: Array<{ what: string; bytes: Uint8Array }> = [
  { what: "a length past the end", bytes: Uint8Array.of(0x0a, 0x05, 0x61) },
  { what: "wire type 7", bytes: Uint8Array.of(0x0f) },
  { what: "field number 0", bytes: Uint8Array.of(0x02, 0x00) },
  { what: "a varint that never ends", bytes: Uint8Array.of(0x08, 0xff, 0xff, 0xff, 0xff, 0xff, 0xff, 0xff, 0xff, 0xff, 0xff, 0xff) },
];

/** The unary and server-streaming methods of a service (the ones whose request is one message). */
export function singleRequestMethods(methods: readonly DescMethod[]): DescMethod[] {
  return methods.filter((m) => m.methodKind === "unary" || m.methodKind === "server_streaming");
}

const identity = (b: Buffer): Buffer => b;

/** A grpc-js unary call with raw request bytes; resolves with the error (or null when it succeeded). */
export function grpcRaw(client: grpc.Client, method: DescMethod, bytes: Uint8Array, md = new grpc.Metadata()): Promise<grpc.ServiceError | null> {
  const path = `/${method.parent.typeName}/${method.name}`;
  if (method.methodKind === "server_streaming") {
    return new Promise((resolve) => {
      const call = client.makeServerStreamRequest(path, identity, identity, Buffer.from(bytes), md, {});
      call.on("data", () => undefined);
      call.on("error", (err: grpc.ServiceError) => resolve(err));
      call.on("end", () => resolve(null));
    });
  }
  return new Promise((resolve) => {
    client.makeUnaryRequest(path, identity, identity, Buffer.from(bytes), md, (err) => resolve(err ?? null));
  });
}

/** A grpc-js bidi call sending raw messages; resolves with the error it ended with (or null). */
export function grpcRawBidi(client: grpc.Client, method: DescMethod, messages: Uint8Array[]): Promise<grpc.ServiceError | null> {
  return new Promise((resolve) => {
    const call = client.makeBidiStreamRequest(`/${method.parent.typeName}/${method.name}`, identity, identity);
    call.on("data", () => undefined);
    call.on("error", (err: grpc.ServiceError) => resolve(err));
    call.on("end", () => resolve(null));
    for (const m of messages) call.write(Buffer.from(m));
    call.end();
  });
}

/** What a raw web request ended with: the Connect/gRPC code name, and our error details if sent. */
export interface WebOutcome {
  httpStatus: number;
  /** Connect code string ("invalid_argument"), or a gRPC status number as a string for gRPC-Web; "" on success. */
  code: string;
  message: string;
  detail: ErrorDetails | undefined;
}

function envelope(flags: number, data: Uint8Array): Uint8Array {
  const out = new Uint8Array(5 + data.length);
  out[0] = flags;
  new DataView(out.buffer).setUint32(1, data.length);
  out.set(data, 5);
  return out;
}

function* envelopes(bytes: Uint8Array): Generator<{ flags: number; data: Uint8Array }> {
  for (let pos = 0; pos + 5 <= bytes.length; ) {
    const length = new DataView(bytes.buffer, bytes.byteOffset + pos + 1, 4).getUint32(0);
    yield { flags: bytes[pos]!, data: bytes.subarray(pos + 5, pos + 5 + length) };
    pos += 5 + length;
  }
}

function detailFromJson(details: Array<{ type: string; value: string }> | undefined): ErrorDetails | undefined {
  return details === undefined ? undefined : detailsOfConnectJson(details);
}

export type WebProtocol = "connect" | "connect-stream" | "grpc-web";

/**
 * POSTs `body` (the message bytes, binary or JSON) to a method on the web
 * listener the way `protocol` frames it. `encoding` compresses the body
 * (Connect unary) or the message (enveloped) with gzip.
 */
export async function webRaw(
  baseUrl: string,
  method: DescMethod,
  body: Uint8Array,
  opts: { protocol: WebProtocol; json?: boolean; headers?: Record<string, string>; gzip?: Uint8Array },
): Promise<WebOutcome> {
  const format = opts.json === true ? "json" : "proto";
  const headers: Record<string, string> = { ...opts.headers };
  let payload: Uint8Array;
  const message = opts.gzip ?? body;
  switch (opts.protocol) {
    case "connect":
      headers["content-type"] = `application/${format}`;
      headers["connect-protocol-version"] = "1";
      if (opts.gzip !== undefined) headers["content-encoding"] = "gzip";
      payload = message;
      break;
    case "connect-stream":
      headers["content-type"] = `application/connect+${format}`;
      headers["connect-protocol-version"] = "1";
      if (opts.gzip !== undefined) headers["connect-content-encoding"] = "gzip";
      payload = envelope(opts.gzip !== undefined ? 1 : 0, message);
      break;
    case "grpc-web":
      headers["content-type"] = `application/grpc-web+${format}`;
      if (opts.gzip !== undefined) headers["grpc-encoding"] = "gzip";
      payload = envelope(opts.gzip !== undefined ? 1 : 0, message);
      break;
  }
  const res = await fetch(`${baseUrl}/${method.parent.typeName}/${method.name}`, { method: "POST", headers, body: payload });
  const bytes = new Uint8Array(await res.arrayBuffer());
  if (opts.protocol === "connect") {
    if (res.status === 200) return { httpStatus: 200, code: "", message: "", detail: undefined };
    const err = JSON.parse(new TextDecoder().decode(bytes)) as { code: string; message?: string; details?: Array<{ type: string; value: string }> };
    return { httpStatus: res.status, code: err.code, message: err.message ?? "", detail: detailFromJson(err.details) };
  }
  if (opts.protocol === "connect-stream") {
    for (const e of envelopes(bytes)) {
      if ((e.flags & 0x02) === 0) continue;
      const end = JSON.parse(new TextDecoder().decode(e.data)) as { error?: { code: string; message?: string; details?: Array<{ type: string; value: string }> } };
      return { httpStatus: res.status, code: end.error?.code ?? "", message: end.error?.message ?? "", detail: detailFromJson(end.error?.details) };
    }
    throw new Error(`no end-stream message (HTTP ${res.status})`);
  }
  // gRPC-Web: the status is in the response headers (trailers-only) or in a trailer frame.
  const trailer = new Headers(res.headers);
  for (const e of envelopes(bytes)) {
    if ((e.flags & 0x80) === 0) continue;
    for (const line of new TextDecoder().decode(e.data).split("\r\n")) {
      const colon = line.indexOf(":");
      if (colon > 0) trailer.set(line.slice(0, colon).trim(), line.slice(colon + 1).trim());
    }
  }
  const err = findTrailerError(trailer);
  return {
    httpStatus: res.status,
    code: err === undefined ? "" : String(err.code),
    message: err?.rawMessage ?? "",
    detail: err instanceof ConnectError ? detailOf(err) : undefined,
  };
}
