import type { IncomingMessage, Server, ServerResponse } from "node:http";
import type { Socket } from "node:net";
import { TLSSocket } from "node:tls";
import { Code } from "@connectrpc/connect";
import { grpcCodeName } from "../rpc/code-name.js";
import type { RefusedRequest } from "../rpc/service.js";

/**
 * Requests the web listener's protocol layer turns away before any handler
 * runs — a content type it does not speak (415), a body over the read limit
 * (429, resource_exhausted), a bad `connect-timeout-ms` (400), headers over
 * node:http's limit (431) — leave an audit line too (issue 23 item 10), so
 * the audit log holds every call that was answered, not only those that
 * reached a service.
 */

type Handler = (req: IncomingMessage, res: ServerResponse) => void;

/** Header bytes node:http takes (its default); more is answered RESOURCE_EXHAUSTED, below. */
export const MAX_HEADER_BYTES = 16 * 1024;

/** Wraps connect-node's handler: a request to an RPC path whose marker no handler set was refused before one. */
export function trackRefusals(handler: Handler, rpcPaths: ReadonlySet<string>, marker: (req: IncomingMessage) => { reached: boolean }, onRefused: ((r: RefusedRequest) => void) | undefined): Handler {
  if (onRefused === undefined) return handler;
  return (req, res) => {
    const path = (req.url ?? "").split("?")[0] ?? "";
    if (rpcPaths.has(path)) {
      const started = performance.now();
      const mark = marker(req);
      res.once("finish", () => {
        if (mark.reached) return;
        const status = res.getHeader("grpc-status");
        const grpcCode = status !== undefined ? grpcCodeName(Number(status) as Code) : codeOfHttpStatus(res.statusCode);
        onRefused({ method: path, transport: transportOf(req.headers["content-type"], req.socket), httpStatus: res.statusCode, grpcCode, durationMs: performance.now() - started });
      });
    }
    handler(req, res);
  };
}

/**
 * Headers over node:http's limit: node:http would answer a bare 431 that a
 * Connect client reads as UNKNOWN. This answers RESOURCE_EXHAUSTED in the
 * request's protocol — a Connect error body (HTTP 431), or for gRPC-Web an
 * HTTP 200 with `grpc-status: 8` — and audits it. Other parse errors keep
 * node:http's answer.
 */
export function answerHeaderOverflow(server: Server, onRefused: ((r: RefusedRequest) => void) | undefined): void {
  // node:http raises clientError again for every chunk that arrives after the first error: answer once.
  const answered = new WeakSet<Socket>();
  server.on("clientError", (err: NodeJS.ErrnoException & { rawPacket?: Buffer }, socket: Socket) => {
    if (answered.has(socket)) return;
    answered.add(socket);
    if (err.code !== "HPE_HEADER_OVERFLOW" || !socket.writable) {
      // What node:http's own handler answers (it is replaced by listening to clientError).
      const status = err.code === "ERR_HTTP_REQUEST_TIMEOUT" ? "408 Request Timeout" : err.code === "HPE_CHUNK_EXTENSIONS_OVERFLOW" ? "413 Payload Too Large" : err.code === "HPE_HEADER_OVERFLOW" ? "431 Request Header Fields Too Large" : "400 Bad Request";
      if (socket.writable && err.code !== "ECONNRESET") socket.end(`HTTP/1.1 ${status}\r\nConnection: close\r\n\r\n`);
      else socket.destroy();
      return;
    }
    // The client may still be sending the rest of its headers: read and drop them while the answer
    // goes out, so closing does not reset the connection before the client has read it (a socket
    // closed with unread data sends RST). The answer ends the connection; a timer bounds the wait.
    socket.on("data", () => {});
    socket.once("end", () => socket.end());
    socket.resume();
    setTimeout(() => socket.destroy(), 2000).unref();
    const head = (err.rawPacket ?? Buffer.alloc(0)).subarray(0, 4096).toString("latin1");
    const method = /^[A-Z]+ (\/[^ ?]*)/.exec(head)?.[1] ?? "unknown";
    const contentType = /\r\ncontent-type:\s*([^\r\n]*)/i.exec(head)?.[1];
    const message = `the request's headers exceed ${MAX_HEADER_BYTES} bytes`;
    if (contentType?.startsWith("application/grpc-web") === true) {
      socket.write(
        `HTTP/1.1 200 OK\r\ncontent-type: ${contentType.split(";")[0]}\r\ngrpc-status: ${Code.ResourceExhausted}\r\ngrpc-message: ${encodeURIComponent(message)}\r\ncontent-length: 0\r\nconnection: close\r\n\r\n`,
      );
    } else {
      const body = JSON.stringify({ code: "resource_exhausted", message });
      socket.write(`HTTP/1.1 431 Request Header Fields Too Large\r\ncontent-type: application/json\r\ncontent-length: ${Buffer.byteLength(body)}\r\nconnection: close\r\n\r\n${body}`);
    }
    onRefused?.({ method, transport: transportOf(contentType, socket), httpStatus: contentType?.startsWith("application/grpc-web") === true ? 200 : 431, grpcCode: grpcCodeName(Code.ResourceExhausted), durationMs: 0 });
  });
}

function transportOf(contentType: string | undefined, socket: Socket): string {
  const protocol = contentType?.startsWith("application/grpc-web") === true ? "grpcweb" : "connect";
  return `${protocol}+${socket instanceof TLSSocket ? "tls" : "tcp"}`;
}

/** The code a Connect client reads from an error answer's HTTP status (Connect's own mapping, inverted where it is one-to-one). */
function codeOfHttpStatus(status: number): string {
  const code: Partial<Record<number, Code>> = {
    400: Code.InvalidArgument,
    401: Code.Unauthenticated,
    403: Code.PermissionDenied,
    404: Code.Unimplemented,
    408: Code.DeadlineExceeded,
    429: Code.ResourceExhausted,
    431: Code.ResourceExhausted,
    501: Code.Unimplemented,
    503: Code.Unavailable,
    504: Code.DeadlineExceeded,
  };
  return status < 400 ? "UNKNOWN" : grpcCodeName(code[status] ?? Code.Unknown);
}
