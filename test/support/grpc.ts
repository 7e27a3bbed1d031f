import * as grpc from "@grpc/grpc-js";
import type { DescService } from "@bufbuild/protobuf";
import { grpcDefinition } from "../../src/rpc/grpc-transport.js";

/**
 * A plain @grpc/grpc-js generic client for a generated service; `callerToken` goes in every call's metadata.
 * Insecure unless `credentials` says otherwise (TLS listeners). Clients of one target share one
 * connection (grpc-js's global subchannel pool) unless `ownConnection`.
 */
export function grpcClient(
  desc: DescService,
  target: string,
  opts: { callerToken?: string; credentials?: grpc.ChannelCredentials; ownConnection?: boolean } = {},
): grpc.Client & Record<string, (...args: unknown[]) => unknown> {
  const Ctor = grpc.makeGenericClientConstructor(grpcDefinition(desc), desc.name);
  const token = opts.callerToken;
  const interceptors: grpc.Interceptor[] =
    token === undefined
      ? []
      : [
          (options, nextCall) =>
            new grpc.InterceptingCall(nextCall(options), {
              start(metadata, listener, next) {
                metadata.set("authorization", `Bearer ${token}`);
                next(metadata, listener);
              },
            }),
        ];
  const channel: grpc.ChannelOptions = opts.ownConnection === true ? { "grpc.use_local_subchannel_pool": 1 } : {};
  return new Ctor(target, opts.credentials ?? grpc.credentials.createInsecure(), { interceptors, ...channel }) as never;
}

export function unary<T>(client: grpc.Client, method: string, req: unknown, opts: { deadlineMs?: number; metadata?: Record<string, string> } = {}): Promise<T> {
  const md = new grpc.Metadata();
  for (const [k, v] of Object.entries(opts.metadata ?? {})) md.set(k, v);
  const callOpts: grpc.CallOptions = opts.deadlineMs !== undefined ? { deadline: Date.now() + opts.deadlineMs } : {};
  return new Promise((resolve, reject) => {
    (client as unknown as Record<string, (...a: unknown[]) => void>)[method]!(req, md, callOpts, (err: grpc.ServiceError | null, res: T) =>
      err ? reject(err) : resolve(res),
    );
  });
}

/** Runs a promise expected to fail with a grpc-js ServiceError; returns it. */
export async function grpcFailure(p: Promise<unknown>): Promise<grpc.ServiceError> {
  try {
    await p;
  } catch (err) {
    return err as grpc.ServiceError;
  }
  throw new Error("expected the call to fail");
}

export { detailOf, type ErrorDetails } from "./error-details.js";
