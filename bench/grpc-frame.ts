/**
 * gRPC's length-prefixed message framing (PROTOCOL-HTTP2: one flag byte, a
 * 4-byte big-endian length, the message) — what a load generator that knows
 * nothing of gRPC must send as the request body, and what the raw node:http2
 * floor writes as its answer.
 */
export function grpcFrame(message: Uint8Array): Buffer {
  const frame = Buffer.allocUnsafe(5 + message.length);
  frame[0] = 0;
  frame.writeUInt32BE(message.length, 1);
  frame.set(message, 5);
  return frame;
}

/** The message of a single uncompressed gRPC frame, or undefined when `body` is not exactly one. */
export function grpcUnframe(body: Buffer): Buffer | undefined {
  if (body.length < 5 || body[0] !== 0) return undefined;
  const length = body.readUInt32BE(1);
  return body.length === 5 + length ? body.subarray(5) : undefined;
}
