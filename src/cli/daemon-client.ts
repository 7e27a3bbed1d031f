import { grpcCodeName } from "../rpc/code-name.js";
import * as grpc from "@grpc/grpc-js";
import { create, fromBinary, toBinary, type DescMethod, type DescMethodUnary, type DescService } from "@bufbuild/protobuf";
import { Code, ConnectError, createClient, type Client } from "@connectrpc/connect";
import { findTrailerError } from "@connectrpc/connect/protocol-grpc";
import { createConnectTransport } from "@connectrpc/connect-node";
import { readFileSync } from "node:fs";
import { rootCertificates } from "node:tls";

export interface ClientOptions {
  /** Caller token sent as `authorization: Bearer …`. */
  callerToken?: string | undefined;
  /** For tls:// and https:// addresses: the CA to trust, and a client certificate (mTLS). */
  tls?: ClientTls | undefined;
}

/** PEM contents (read by the CLI from --cacert, --cert, --key). */
export interface ClientTls {
  ca?: Buffer | undefined;
  cert?: Buffer | undefined;
  key?: Buffer | undefined;
}

export interface BrokerClient<D extends DescService> {
  readonly rpc: Client<D>;
  close(): void;
}

/**
 * A client for any tokenbroker service, by address: `unix:///path` and
 * `tcp://host:port` speak gRPC through grpc-js, `tls://host:port` gRPC over
 * TLS; `http(s)://host:port` speaks the Connect protocol to the web listener. Errors are ConnectErrors with the
 * google.rpc details attached, whatever the transport (daemon-error.ts reads them).
 */
export function createBrokerClient<D extends DescService>(desc: D, address: string, opts: ClientOptions = {}): BrokerClient<D> {
  const headers: Record<string, string> = opts.callerToken ? { authorization: `Bearer ${opts.callerToken}` } : {};
  if (/^https?:\/\//.test(address)) {
    const tls = opts.tls ?? {};
    const nodeOptions = address.startsWith("https:") ? { ...(tls.ca ? { ca: tls.ca } : {}), ...(tls.cert ? { cert: tls.cert } : {}), ...(tls.key ? { key: tls.key } : {}) } : {};
    const transport = createConnectTransport({ baseUrl: address, httpVersion: "1.1", useBinaryFormat: true, nodeOptions });
    const rpc = createClient(desc, transport);
    return { rpc: withHeaders(rpc, headers), close() {} };
  }
  const target = grpcTarget(address);
  const tls = opts.tls ?? {};
  // tls://: the CA given (else Node's roots, NODE_EXTRA_CA_CERTS included), and the client certificate for mTLS.
  if (address.startsWith("tls://")) quietIpServername();
  const credentials = address.startsWith("tls://") ? grpc.credentials.createSsl(tls.ca ?? defaultRoots(), tls.key ?? null, tls.cert ?? null) : grpc.credentials.createInsecure();
  const channel = new grpc.Client(target, credentials);
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

/**
 * Node's CAs plus NODE_EXTRA_CA_CERTS, as https:// trusts them: grpc-js
 * reads only Node's bundled roots, so the variable the README names for the
 * web listener would not work for tls:// without this.
 */
function defaultRoots(env: NodeJS.ProcessEnv = process.env): Buffer | null {
  const extra = env.NODE_EXTRA_CA_CERTS;
  if (extra === undefined || extra === "") return null;
  let pem: string;
  try {
    pem = readFileSync(extra, "utf8");
  } catch {
    return null; // Node itself only warns about an unreadable file
  }
  return Buffer.from([...rootCertificates, pem].join("\n"));
}

let quieted = false;
/**
 * grpc-js sends the target host as TLS server name even when it is an IP
 * address, and Node warns about that on stderr (DEP0123) — noise in a CLI's
 * one-line answers. Other warnings still print.
 */
function quietIpServername(): void {
  if (quieted) return;
  quieted = true;
  const printers = process.listeners("warning");
  process.removeAllListeners("warning");
  process.on("warning", (w: Error & { code?: string }) => {
    if (w.code === "DEP0123") return;
    for (const p of printers) p(w);
  });
}

export function grpcTarget(address: string): string {
  // grpc-js wants unix:relative or unix:///absolute; accept unix://./x too.
  if (address.startsWith("unix:")) return address.replace(/^unix:\/\/\.\//, "unix:./");
  if (address.startsWith("tcp://")) return address.slice("tcp://".length);
  if (address.startsWith("tls://")) return address.slice("tls://".length);
  throw new ConnectError(`unsupported address "${address}" (${ADDRESS_FORMS})`, Code.InvalidArgument);
}

// The address forms live in address.ts, which the git credential helper loads without this file's wire libraries.
import { ADDRESS_FORMS } from "./address.js";
export { ADDRESS_FORMS, DEV_SOCKET, SYSTEM_SOCKET, resolveAddr } from "./address.js";

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
