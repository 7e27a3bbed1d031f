import * as grpc from "@grpc/grpc-js";
import { create, fromBinary, isMessage, toBinary, type DescMethod, type DescService } from "@bufbuild/protobuf";
import type { HandlerContext } from "@connectrpc/connect";
import { setTrailerStatus } from "@connectrpc/connect/protocol-grpc";
import { encodedAnswer } from "./answer-encoding.js";
import { grpcHandlerContext, type CallEnv } from "./grpc-context.js";
import { MalformedRequest, decodeBinaryRequest, malformedError, malformedRequestKey } from "./request-decoding.js";
import type { AnyImpl } from "./service.js";
import { toConnectError } from "./wire-error.js";

/**
 * Maps a protobuf-es service descriptor and a connect-es style
 * implementation onto a grpc-js server. grpc-js serves gRPC about 3x cheaper
 * per call than connect-node here, so gRPC listeners use it; the handlers
 * stay transport-neutral.
 */
export function addGrpcService(
  server: grpc.Server,
  desc: DescService,
  impl: Record<string, AnyImpl>,
  shutdownSignal: AbortSignal,
  listener: Pick<CallEnv, "listenerKind" | "tls">,
): void {
  const handlers: grpc.UntypedServiceImplementation = {};
  for (const method of desc.methods) {
    const fn = impl[method.localName];
    if (fn !== undefined) handlers[method.localName] = handlerFor(desc, method, fn, { shutdownSignal, ...listener });
  }
  server.addService(grpcDefinition(desc), handlers);
}

/** The grpc-js service definition of a protobuf-es descriptor (servers and clients). */
export function grpcDefinition(desc: DescService): grpc.ServiceDefinition {
  const definition: Record<string, grpc.MethodDefinition<unknown, unknown>> = {};
  for (const method of desc.methods) {
    definition[method.localName] = {
      path: `/${desc.typeName}/${method.name}`,
      originalName: method.name,
      requestStream: method.methodKind === "client_streaming" || method.methodKind === "bidi_streaming",
      responseStream: method.methodKind === "server_streaming" || method.methodKind === "bidi_streaming",
      // Handlers and callers pass init shapes; `create` fills defaults before encoding.
      requestSerialize: (m: unknown) => Buffer.from(toBinary(method.input, create(method.input, m as never))),
      // Never throws: grpc-js would answer INTERNAL; the handler refuses it as INVALID_ARGUMENT.
      requestDeserialize: (b: Buffer) => decodeBinaryRequest(method.input, b),
      // A unary answer arrives already encoded (service.ts checks it encodes before the call is observed).
      responseSerialize: (m: unknown) => bufferOf(encodedAnswer(m) ?? toBinary(method.output, isMessage(m, method.output) ? m : create(method.output, m as never))),
      responseDeserialize: (b: Buffer) => fromBinary(method.output, b),
    };
  }
  return definition as grpc.ServiceDefinition;
}

/** The bytes as a Buffer, without copying them. */
function bufferOf(bytes: Uint8Array): Buffer {
  return Buffer.from(bytes.buffer, bytes.byteOffset, bytes.byteLength);
}

function handlerFor(desc: DescService, method: DescMethod, fn: AnyImpl, env: CallEnv): grpc.UntypedHandleCall {
  switch (method.methodKind) {
    case "unary":
      return (call: grpc.ServerUnaryCall<unknown, unknown>, callback: grpc.sendUnaryData<unknown>) => {
        const { ctx, done } = grpcHandlerContext(desc, method, call, env);
        answer(() => fn(requestOf(method, call.request, ctx), ctx), done, callback);
      };
    case "server_streaming":
    case "bidi_streaming": {
      const streaming = method.methodKind === "bidi_streaming";
      return (call: grpc.ServerWritableStream<unknown, unknown> | grpc.ServerDuplexStream<unknown, unknown>) => {
        const { ctx, done } = grpcHandlerContext(desc, method, call, env);
        const input = streaming ? messagesOf(method, call as grpc.ServerDuplexStream<unknown, unknown>) : requestOf(method, (call as grpc.ServerWritableStream<unknown, unknown>).request, ctx);
        (async () => {
          for await (const msg of fn(input, ctx) as AsyncIterable<unknown>) {
            if (call.cancelled) break;
            if (!call.write(msg)) await new Promise((r) => call.once("drain", r));
          }
          call.end();
        })()
          .catch((err: unknown) => {
            if (!call.cancelled) call.emit("error", grpcStatusFrom(err));
          })
          .finally(done);
      };
    }
    case "client_streaming":
      return (call: grpc.ServerReadableStream<unknown, unknown>, callback: grpc.sendUnaryData<unknown>) => {
        const { ctx, done } = grpcHandlerContext(desc, method, call as unknown as grpc.ServerUnaryCall<unknown, unknown>, env);
        answer(() => fn(messagesOf(method, call), ctx), done, callback);
      };
  }
}

/**
 * The request a handler gets: a request that did not decode is noted on the
 * call and replaced by an empty message, which the handler wrapper refuses
 * after caller auth.
 */
function requestOf(method: DescMethod, request: unknown, ctx: HandlerContext): unknown {
  if (!(request instanceof MalformedRequest)) return request;
  ctx.values.set(malformedRequestKey, request.problem);
  return create(method.input);
}

/** Runs a handler that answers once, then reports its result or error to grpc-js. */
function answer(run: () => unknown, done: () => void, callback: grpc.sendUnaryData<unknown>): void {
  Promise.resolve()
    .then(run)
    .then(
      (res) => {
        done();
        callback(null, res);
      },
      (err: unknown) => {
        done();
        callback(grpcStatusFrom(err));
      },
    );
}

/** The same status, message and `grpc-status-details-bin` connect-node would send. */
export function grpcStatusFrom(err: unknown): Partial<grpc.StatusObject> {
  const ce = toConnectError(err);
  const trailer = setTrailerStatus(new Headers(), ce);
  const metadata = new grpc.Metadata();
  const details = trailer.get("grpc-status-details-bin");
  if (details !== null) metadata.set("grpc-status-details-bin", Buffer.from(details, "base64"));
  return { code: ce.code as number as grpc.status, details: ce.rawMessage, metadata };
}

/**
 * The request messages of a streaming call. Iterating the grpc-js Duplex
 * directly never ends on the client's half-close (the iterator also waits for
 * the writable side), so read it through events.
 */
async function* messagesOf(method: DescMethod, call: grpc.ServerReadableStream<unknown, unknown> | grpc.ServerDuplexStream<unknown, unknown>): AsyncGenerator<unknown> {
  const queue: unknown[] = [];
  let ended = false;
  let failure: unknown;
  let wake: (() => void) | undefined;
  const notify = (): void => {
    wake?.();
    wake = undefined;
  };
  call.on("data", (m: unknown) => {
    queue.push(m);
    notify();
  });
  call.once("end", () => {
    ended = true;
    notify();
  });
  call.once("cancelled", notify);
  call.once("error", (e: unknown) => {
    failure = e;
    notify();
  });
  for (;;) {
    if (queue.length > 0) {
      const m = queue.shift();
      if (m instanceof MalformedRequest) throw malformedError(method.input, m.problem);
      yield m;
      continue;
    }
    if (failure !== undefined) throw failure;
    if (ended || call.cancelled) return;
    await new Promise<void>((r) => (wake = r));
  }
}
