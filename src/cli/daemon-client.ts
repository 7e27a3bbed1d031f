import { grpcCodeName } from "../rpc/code-name.js";
import * as grpc from "@grpc/grpc-js";
import { create, fromBinary, toBinary, type DescMethod, type DescMethodUnary, type DescService } from "@bufbuild/protobuf";
import { Code, ConnectError, createClient, type Client } from "@connectrpc/connect";
import { findTrailerError } from "@connectrpc/connect/protocol-grpc";
import { createConnectTransport } from "@connectrpc/connect-node";

export interface ClientOptions {
  /** Caller token sent as `authorization: Bearer …`. */
  callerToken?: string | undefined;
}

export interface BrokerClient<D extends DescService> {
  readonly rpc: Client<D>;
  close(): void;
}

/**
 * A client for any tokenbroker service, by address: `unix:///path` and
 * `tcp://host:port` speak gRPC through grpc-js; `http(s)://host:port` speaks
 * the Connect protocol to the web listener. Errors are ConnectErrors with the
 * google.rpc details attached, whatever the transport (daemon-error.ts reads them).
 */
export function createBrokerClient<D extends DescService>(desc: D, address: string, opts: ClientOptions = {}): BrokerClient<D> {
  const headers: Record<string, string> = opts.callerToken ? { authorization: `Bearer ${opts.callerToken}` } : {};
  if (/^https?:\/\//.test(address)) {
    const transport = createConnectTransport({ baseUrl: address, httpVersion: "1.1", useBinaryFormat: true });
    const rpc = createClient(desc, transport);
    return { rpc: withHeaders(rpc, headers), close() {} };
  }
  const target = grpcTarget(address);
  const channel = new grpc.Client(target, grpc.credentials.createInsecure());
  const rpc: Record<string, unknown> = {};
  for (const method of desc.methods) {
    if (method.methodKind === "server_streaming") {
      rpc[method.localName] = (req: unknown, callOpts?: { headers?: Record<string, string>; signal?: AbortSignal }) =>
        serverStreamCall(channel, desc, method, req, { ...headers, ...(callOpts?.headers ?? {}) }, callOpts?.signal);
      continue;
    }
    if (method.methodKind !== "unary") continue;
    rpc[method.localName] = (req: unknown, callOpts?: { timeoutMs?: number; headers?: Record<string, string> }) =>
      unaryCall(channel, desc, method as DescMethodUnary, req, { ...headers, ...(callOpts?.headers ?? {}) }, callOpts?.timeoutMs);
  }
  return { rpc: rpc as Client<D>, close: () => channel.close() };
}

export function grpcTarget(address: string): string {
  // grpc-js wants unix:relative or unix:///absolute; accept unix://./x too.
  if (address.startsWith("unix:")) return address.replace(/^unix:\/\/\.\//, "unix:./");
  if (address.startsWith("tcp://")) return address.slice("tcp://".length);
  throw new ConnectError(`unsupported address "${address}" (use unix:///path, tcp://host:port or http://host:port)`, Code.InvalidArgument);
}

// The address forms live in address.ts, which the git credential helper loads without this file's wire libraries.
export { DEV_SOCKET, SYSTEM_SOCKET, resolveAddr } from "./address.js";

/** Code.NotFound → "NOT_FOUND", as gRPC names it (the same spelling as the audit log and metrics: rpc/code-name.ts). */
export function codeName(code: Code): string {
  return grpcCodeName(code);
}

function unaryCall(
  channel: grpc.Client,
  desc: DescService,
  method: DescMethodUnary,
  req: unknown,
  headers: Record<string, string>,
  timeoutMs: number | undefined,
): Promise<unknown> {
  const metadata = new grpc.Metadata();
  for (const [k, v] of Object.entries(headers)) metadata.set(k, v);
  return new Promise((resolve, reject) => {
    channel.makeUnaryRequest(
      `/${desc.typeName}/${method.name}`,
      (m: unknown) => Buffer.from(toBinary(method.input, create(method.input, m as never))),
      (b: Buffer) => fromBinary(method.output, b),
      req,
      metadata,
      timeoutMs !== undefined ? { deadline: Date.now() + timeoutMs } : {},
      (err, res) => (err ? reject(connectErrorFromGrpc(err)) : resolve(res)),
    );
  });
}

/**
 * A server-streaming call over grpc-js, as connect's client gives it: an
 * async iterable of messages that throws the ConnectError (details
 * attached) the stream ended with. Leaving the loop, or `signal`, cancels
 * the call.
 */
async function* serverStreamCall(
  channel: grpc.Client,
  desc: DescService,
  method: DescMethod,
  req: unknown,
  headers: Record<string, string>,
  signal: AbortSignal | undefined,
): AsyncGenerator<unknown> {
  const metadata = new grpc.Metadata();
  for (const [k, v] of Object.entries(headers)) metadata.set(k, v);
  const call = channel.makeServerStreamRequest(
    `/${desc.typeName}/${method.name}`,
    (m: unknown) => Buffer.from(toBinary(method.input, create(method.input, m as never))),
    (b: Buffer) => fromBinary(method.output, b),
    req,
    metadata,
    {},
  );
  const cancel = (): void => call.cancel();
  signal?.addEventListener("abort", cancel, { once: true });
  try {
    for await (const message of call as AsyncIterable<unknown>) yield message;
  } catch (err) {
    throw isServiceError(err) ? connectErrorFromGrpc(err) : err;
  } finally {
    signal?.removeEventListener("abort", cancel);
    call.cancel();
  }
}

function isServiceError(err: unknown): err is grpc.ServiceError {
  return err instanceof Error && typeof (err as { code?: unknown }).code === "number" && "metadata" in err;
}

/** Rebuilds the ConnectError (with details) from a grpc-js ServiceError. */
export function connectErrorFromGrpc(err: grpc.ServiceError): ConnectError {
  const trailer = new Headers({ "grpc-status": String(err.code), "grpc-message": encodeURIComponent(err.details ?? "") });
  const bin = err.metadata?.get("grpc-status-details-bin")[0];
  if (bin !== undefined) trailer.set("grpc-status-details-bin", Buffer.from(bin as Buffer).toString("base64"));
  return findTrailerError(trailer) ?? new ConnectError(err.details ?? "", err.code as number as Code);
}

function withHeaders<D extends DescService>(rpc: Client<D>, headers: Record<string, string>): Client<D> {
  if (Object.keys(headers).length === 0) return rpc;
  const out: Record<string, unknown> = {};
  for (const [name, fn] of Object.entries(rpc as Record<string, (req: unknown, o?: { headers?: ConstructorParameters<typeof Headers>[0] }) => unknown>)) {
    out[name] = (req: unknown, o: { headers?: ConstructorParameters<typeof Headers>[0] } = {}) => fn(req, { ...o, headers: { ...headers, ...Object.fromEntries(new Headers(o.headers)) } });
  }
  return out as Client<D>;
}
