/**
 * One unary call to the daemon without grpc-js, connect or protobuf-es
 * (loading those costs several times a bare Node start, and the git
 * credential helper runs before every git operation): gRPC framing over
 * node:http2 for `unix:` and `tcp://` addresses, the Connect protocol over
 * node:http(s) for the web listener. The same address forms as the CLI
 * (address.ts), plain-text like the CLI's gRPC client. Only node: builtins.
 */
import { connect as h2connect, type ClientHttp2Session, type IncomingHttpHeaders, type IncomingHttpStatusHeader } from "node:http2";
import { connect as netConnect } from "node:net";
import { decodeErrorInfo, decodeHelp, decodeRetryInfo, decodeStatus, type ErrorInfoValue } from "./wire.js";

/** tokenbroker's error domain (rpc/wire-error.ts ERROR_DOMAIN). */
const ERROR_DOMAIN = "tokenbroker";
const ERROR_INFO = "type.googleapis.com/google.rpc.ErrorInfo";
const HELP = "type.googleapis.com/google.rpc.Help";
const RETRY_INFO = "type.googleapis.com/google.rpc.RetryInfo";

/** gRPC status codes by number, as gRPC names them. */
const CODE_NAMES = [
  "OK", "CANCELLED", "UNKNOWN", "INVALID_ARGUMENT", "DEADLINE_EXCEEDED", "NOT_FOUND", "ALREADY_EXISTS", "PERMISSION_DENIED",
  "RESOURCE_EXHAUSTED", "FAILED_PRECONDITION", "ABORTED", "OUT_OF_RANGE", "UNIMPLEMENTED", "INTERNAL", "UNAVAILABLE", "DATA_LOSS", "UNAUTHENTICATED",
];

/** A failed call, decoded as the CLI decodes one (daemon-error.ts failureOf): the reason decides the exit code. */
export class CallFailed extends Error {
  override readonly name = "CallFailed";
  constructor(
    /** The daemon's ErrorInfo reason, or DAEMON_UNREACHABLE / SOCKET_PERMISSION_DENIED, or the code's name. */
    readonly reason: string,
    message: string,
    readonly info?: ErrorInfoValue,
    readonly hint?: string,
    readonly retryAfterMs?: number,
  ) {
    super(message);
  }
}

export interface LightClient {
  /** POSTs `body` to `/package.Service/Method` and answers the response message's bytes. */
  unary(path: string, body: Uint8Array, timeoutMs: number): Promise<Uint8Array>;
  close(): void;
}

export function lightClient(address: string, callerToken: string | undefined): LightClient {
  const auth: Record<string, string> = callerToken ? { authorization: `Bearer ${callerToken}` } : {};
  if (/^https?:\/\//.test(address)) return connectClient(address.replace(/\/+$/, ""), auth);
  return grpcClient(address, auth);
}

/** How a call that reached no daemon is reported (the CLI's words, daemon-error.ts). */
function unreachable(err: NodeJS.ErrnoException, address: string): CallFailed {
  if (err.code === "EACCES") return new CallFailed("SOCKET_PERMISSION_DENIED", `permission denied connecting to ${address}; join the socket's group (tokenbroker-clients) or run as root`);
  return new CallFailed("DAEMON_UNREACHABLE", `cannot reach the daemon at ${address} (${err.code ?? err.message}); is it running? set TOKENBROKER_ADDR`);
}

function grpcClient(address: string, auth: Record<string, string>): LightClient {
  let session: Promise<ClientHttp2Session> | undefined;
  let broken: CallFailed | undefined;
  // The socket is connected first, so a daemon that is not there is named by its errno
  // (ENOENT, ECONNREFUSED, EACCES) rather than by a cancelled HTTP/2 stream.
  const open = (): Promise<ClientHttp2Session> =>
    (session ??= new Promise<ClientHttp2Session>((resolve, reject) => {
      const unix = /^unix:(?:\/\/)?(.*)$/.exec(address);
      const hostPort = new URL(`http://${address.slice("tcp://".length)}`);
      const socket = unix !== null ? netConnect(unix[1]!) : netConnect(Number(hostPort.port), hostPort.hostname.replace(/^\[|\]$/g, ""));
      socket.once("error", (err: NodeJS.ErrnoException) => reject((broken ??= unreachable(err, address))));
      socket.once("connect", () => {
        const s = h2connect(unix !== null ? "http://localhost" : hostPort.origin, { createConnection: () => socket });
        s.on("error", (err: NodeJS.ErrnoException) => (broken ??= unreachable(err, address)));
        resolve(s);
      });
    }));
  return {
    async unary(path, body, timeoutMs) {
      const s = await open();
      return new Promise<Uint8Array>((resolve, reject) => {
        if (broken !== undefined) return reject(broken);
        const req = s.request({
          ":method": "POST",
          ":path": path,
          "content-type": "application/grpc+proto",
          te: "trailers",
          "grpc-timeout": `${Math.max(1, Math.ceil(timeoutMs))}m`,
          "user-agent": "tokenbroker-git-credential",
          ...auth,
        });
        req.setTimeout(timeoutMs + 1000, () => req.close());
        const frame = Buffer.alloc(5 + body.length);
        frame.writeUInt32BE(body.length, 1);
        frame.set(body, 5);
        req.end(frame);
        let head: IncomingHttpHeaders & IncomingHttpStatusHeader = {};
        let trailers: IncomingHttpHeaders = {};
        const chunks: Buffer[] = [];
        req.on("response", (h) => (head = h));
        req.on("trailers", (t) => (trailers = t));
        req.on("data", (c: Buffer) => chunks.push(c));
        req.on("error", (err: NodeJS.ErrnoException) => reject(broken ?? unreachable(err, address)));
        req.on("close", () => {
          if (broken !== undefined && head[":status"] === undefined) return reject(broken);
          const status = trailers["grpc-status"] ?? head["grpc-status"];
          if (status === undefined) {
            return reject(head[":status"] === undefined ? new CallFailed("DAEMON_UNREACHABLE", `the daemon at ${address} closed the call without an answer`) : new CallFailed("UNKNOWN", `the daemon at ${address} answered HTTP ${head[":status"]} without a gRPC status`));
          }
          if (status !== "0") return reject(grpcFailure(Number(status), header(trailers["grpc-message"] ?? head["grpc-message"]), header(trailers["grpc-status-details-bin"] ?? head["grpc-status-details-bin"])));
          const data = Buffer.concat(chunks);
          if (data.length < 5 || data[0] !== 0 || data.readUInt32BE(1) !== data.length - 5) return reject(new CallFailed("INTERNAL", "the daemon's answer is not one uncompressed gRPC message"));
          resolve(data.subarray(5));
        });
      });
    },
    close() {
      void session?.then((s) => s.close(), () => undefined);
    },
  };
}

const header = (v: string | string[] | undefined): string | undefined => (Array.isArray(v) ? v[0] : v);

function grpcFailure(code: number, rawMessage: string | undefined, detailsBin: string | undefined): CallFailed {
  let message = rawMessage ?? "";
  try {
    message = decodeURIComponent(message);
  } catch {
    // not percent-encoded after all: as sent
  }
  const details = detailsBin !== undefined ? decodeStatus(Buffer.from(detailsBin, "base64")).details : [];
  return failure(code, message, details.map((d) => ({ type: d.typeUrl, value: d.value })));
}

/** A failure from the google.rpc details (type URL or Connect's bare type name, and the message bytes). */
function failure(code: number, message: string, details: Array<{ type: string; value: Uint8Array }>): CallFailed {
  const of = (name: string): Uint8Array[] => details.filter((d) => d.type === name || `type.googleapis.com/${d.type}` === name).map((d) => d.value);
  const info = of(ERROR_INFO).map(decodeErrorInfo).find((i) => i.domain === ERROR_DOMAIN);
  const hint = of(HELP).flatMap(decodeHelp).join("; ");
  const retry = of(RETRY_INFO).map(decodeRetryInfo)[0];
  return new CallFailed(info?.reason ?? CODE_NAMES[code] ?? "UNKNOWN", message, info, hint === "" ? undefined : hint, retry);
}

const CONNECT_CODES: Readonly<Record<string, number>> = Object.fromEntries(CODE_NAMES.map((n, i) => [n.toLowerCase(), i]));

function connectClient(base: string, auth: Record<string, string>): LightClient {
  return {
    async unary(path, body, timeoutMs) {
      const { request } = base.startsWith("https:") ? await import("node:https") : await import("node:http");
      return new Promise<Uint8Array>((resolve, reject) => {
        const req = request(`${base}${path}`, {
          method: "POST",
          headers: {
            "content-type": "application/proto",
            "connect-protocol-version": "1",
            "connect-timeout-ms": String(Math.max(1, Math.ceil(timeoutMs))),
            "user-agent": "tokenbroker-git-credential",
            ...auth,
          },
          timeout: timeoutMs + 1000,
        });
        req.on("timeout", () => req.destroy(Object.assign(new Error("timed out"), { code: "ETIMEDOUT" })));
        req.on("error", (err: NodeJS.ErrnoException) => reject(unreachable(err, base)));
        req.on("response", (res) => {
          const chunks: Buffer[] = [];
          res.on("data", (c: Buffer) => chunks.push(c));
          res.on("error", (err: NodeJS.ErrnoException) => reject(unreachable(err, base)));
          res.on("end", () => {
            const data = Buffer.concat(chunks);
            if (res.statusCode === 200) return resolve(data);
            try {
              const e = JSON.parse(data.toString("utf8")) as { code?: string; message?: string; details?: Array<{ type?: string; value?: string }> };
              const details = (e.details ?? []).map((d) => ({ type: d.type ?? "", value: Buffer.from(d.value ?? "", "base64") }));
              reject(failure(CONNECT_CODES[e.code ?? ""] ?? 2, e.message ?? "", details));
            } catch {
              reject(new CallFailed("UNKNOWN", `the daemon at ${base} answered HTTP ${res.statusCode}`));
            }
          });
        });
        req.end(body);
      });
    },
    close() {},
  };
}
