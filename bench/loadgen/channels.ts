import * as grpc from "@grpc/grpc-js";

/**
 * grpc-js channels for the load generator. Each is its own HTTP/2
 * connection (a local subchannel pool; grpc-js would otherwise share one
 * connection between clients of the same target). Calls move raw bytes:
 * requests are serialized once up front and answers are decoded only when
 * sampled, so the generator spends its CPU on the transport, not on protobuf.
 */
export function openChannels(target: string, n: number): grpc.Client[] {
  return Array.from(
    { length: Math.max(1, n) },
    () =>
      new grpc.Client(target, grpc.credentials.createInsecure(), {
        "grpc.use_local_subchannel_pool": 1,
        "grpc.max_receive_message_length": 4 * 1024 * 1024,
      }),
  );
}

export async function waitReady(clients: grpc.Client[], timeoutMs = 10_000): Promise<void> {
  const deadline = Date.now() + timeoutMs;
  await Promise.all(clients.map((c) => new Promise<void>((resolve, reject) => c.waitForReady(deadline, (err) => (err ? reject(err) : resolve())))));
}

export function closeAll(clients: grpc.Client[]): void {
  for (const c of clients) c.close();
}

const identity = (b: Buffer): Buffer => b;

/** One unary call with pre-serialized request bytes; resolves with the answer's bytes. */
export function unaryRaw(client: grpc.Client, path: string, request: Buffer, deadlineMs?: number): Promise<Buffer> {
  return new Promise((resolve, reject) => {
    const cb = (err: grpc.ServiceError | null, res?: Buffer): void => (err ? reject(err) : resolve(res as Buffer));
    if (deadlineMs === undefined) client.makeUnaryRequest(path, identity, identity, request, cb);
    else client.makeUnaryRequest(path, identity, identity, request, { deadline: Date.now() + deadlineMs }, cb);
  });
}
