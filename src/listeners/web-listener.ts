import { createServer, type IncomingMessage, type Server, type ServerResponse } from "node:http";
import { createServer as createTlsServer } from "node:https";
import type { Socket } from "node:net";
import { TLSSocket } from "node:tls";
import { createContextValues } from "@connectrpc/connect";
import { connectNodeAdapter } from "@connectrpc/connect-node";
import { WIRE_JSON_OPTIONS } from "../rpc/answer-encoding.js";
import { listenerKindKey, peerKey, reachedHandlerKey, tokenlessKey, type PeerInfo } from "../rpc/context.js";
import { loadPeerCredentials, peerCredentialsOf, type PeerCredentials } from "../listen/peer-credentials.js";
import { tcpAddress, type ListenAddress } from "../listen/listen-address.js";
import { TlsFiles, certificateNames, reloadTlsFiles, type TlsFilePaths } from "../listen/tls-files.js";
import { finishUnixSocket, prepareUnixSocket, removeUnixSocket } from "./unix-socket.js";
import type { AnyImpl, RefusedRequest, RpcService } from "../rpc/service.js";
import { answerHeaderOverflow, trackRefusals } from "./refusals.js";
import { checkRequestMessages } from "./request-message-check.js";

/** Plain HTTP routes beside Connect (callback, /healthz, /metrics). */
export type WebRoute = (req: IncomingMessage, res: ServerResponse, url: URL) => boolean | Promise<boolean>;

export interface WebListener {
  readonly bound: ListenAddress;
  /** Reads the TLS files again: new connections get the new certificate, open ones carry on; returns why not. */
  reloadTls(): string[];
  /** The listener's address and when the certificate it serves expires (epoch ms), if it speaks TLS. */
  certificates(): Array<{ listener: string; notAfterMs: number }>;
  shutdown(graceMs: number): Promise<void>;
}

/**
 * The HTTP/1.1 listener: Connect (JSON or binary, so curl works) and
 * gRPC-Web for every service through connect-node, plus plain routes.
 */
export async function startWebListener(
  address: ListenAddress & { tls?: TlsFilePaths | undefined; allowTokenless?: boolean | undefined },
  services: Array<{ service: RpcService; impl: Record<string, AnyImpl> }>,
  routes: WebRoute[],
  shutdownSignal: AbortSignal,
  onRefused?: (r: RefusedRequest) => void,
): Promise<WebListener> {
  const readMaxBytes = 1024 * 1024;
  // Per request: set when a service handler sees the call (rpc/service.ts), so refusals before one are audited.
  const markers = new WeakMap<IncomingMessage, { reached: boolean }>();
  const markerOf = (req: IncomingMessage): { reached: boolean } => {
    let m = markers.get(req);
    if (m === undefined) markers.set(req, (m = { reached: false }));
    return m;
  };
  const rpcPaths = new Set<string>();
  const tls = address.tls === undefined ? undefined : new TlsFiles(address.tls);
  const handler = connectNodeAdapter({
    grpc: false,
    contextValues: (req) =>
      createContextValues()
        .set(listenerKindKey, address.kind)
        .set(peerKey, peerOf((req as IncomingMessage).socket, address.kind))
        .set(tokenlessKey, address.allowTokenless)
        .set(reachedHandlerKey, markerOf(req as IncomingMessage)),
    shutdownSignal,
    readMaxBytes,
    writeMaxBytes: 4 * 1024 * 1024,
    // The google.rpc detail types, so an Any (ObtainAccessTokens' per-provider errors) can be written as JSON.
    jsonOptions: WIRE_JSON_OPTIONS,
    routes(router) {
      for (const { service, impl } of services) router.service(service.desc, impl as never);
      checkRequestMessages(router.handlers, readMaxBytes);
      for (const h of router.handlers) rpcPaths.add(h.requestPath);
    },
    fallback(anyReq, anyRes) {
      // This listener is HTTP/1.1 only, so these are node:http's types.
      const req = anyReq as IncomingMessage;
      const res = anyRes as ServerResponse;
      const url = new URL(req.url ?? "/", "http://localhost");
      void (async () => {
        for (const route of routes) if (await route(req, res, url)) return;
        res.writeHead(404, { "content-type": "text/plain; charset=utf-8" }).end("not found\n");
      })().catch(() => {
        if (!res.headersSent) res.writeHead(500).end();
        else res.destroy();
      });
    },
  });
  const options = { requestTimeout: 60_000, keepAliveTimeout: 5_000 };
  // A client CA asks for a client certificate without requiring one (a
  // caller may send a bearer token instead); one that does not verify is
  // not a credential (peerOf).
  const server: Server =
    tls === undefined
      ? createServer(options, trackRefusals(handler, rpcPaths, markerOf, onRefused))
      : createTlsServer({ ...options, ...tls.material, requestCert: tls.requestsClientCert, rejectUnauthorized: false }, trackRefusals(handler, rpcPaths, markerOf, onRefused));
  answerHeaderOverflow(server, onRefused);
  tls?.onChange((m) => (server as ReturnType<typeof createTlsServer>).setSecureContext(m));
  const sockets = new Set<Socket>();
  if (address.kind === "unix") loadPeerCredentials();
  server.on("connection", (s: Socket) => {
    if (address.kind === "unix") {
      try {
        const cred = peerCredentialsOf(s);
        if (cred !== undefined) peerCreds.set(s, cred);
      } catch {
        s.destroy();
        return;
      }
    }
    sockets.add(s);
    s.once("close", () => sockets.delete(s));
  });

  let bound: ListenAddress;
  if (address.kind === "unix") {
    await prepareUnixSocket(address.path);
    await listen(server, { path: address.path });
    await finishUnixSocket(address.path);
    bound = address;
  } else {
    await listen(server, { host: address.host, port: address.port });
    const a = server.address();
    bound = tcpAddress(address.host, typeof a === "object" && a !== null ? a.port : address.port);
  }

  return {
    bound,
    reloadTls() {
      return tls === undefined ? [] : reloadTlsFiles(tls);
    },
    certificates() {
      return tls === undefined ? [] : [{ listener: bound.url, notAfterMs: tls.notAfterMs }];
    },
    async shutdown(graceMs: number) {
      const closed = new Promise<void>((resolve) => server.close(() => resolve()));
      server.closeIdleConnections();
      const timer = setTimeout(() => {
        for (const s of sockets) s.destroy();
      }, graceMs);
      await closed;
      clearTimeout(timer);
      if (address.kind === "unix") await removeUnixSocket(address.path);
    },
  };
}

function listen(server: Server, opts: { path: string } | { host: string; port: number }): Promise<void> {
  return new Promise((resolve, reject) => {
    const onError = (err: Error): void => reject(new Error(`cannot listen on ${"path" in opts ? opts.path : `${opts.host}:${opts.port}`}: ${err.message}`));
    server.once("error", onError);
    server.listen(opts, () => {
      server.off("error", onError);
      resolve();
    });
  });
}

const PLAIN: PeerInfo = { tls: false, certNames: undefined };

/** A client certificate counts only when the listener's client CA verified it. */
/**
 * The peer of a request: on a Unix socket the kernel's credentials of the
 * connection (read once per connection, when it is accepted), on TCP its
 * address, and a client certificate the listener's CA verified.
 */
function peerOf(socket: Socket, kind: "unix" | "tcp"): PeerInfo {
  if (kind === "unix") {
    const cred = peerCreds.get(socket);
    return cred === undefined ? PLAIN : { ...PLAIN, cred };
  }
  const address = socket.remoteAddress === undefined ? undefined : `${socket.remoteAddress}:${socket.remotePort}`;
  if (!(socket instanceof TLSSocket)) return { ...PLAIN, address };
  const cert = socket.authorized ? socket.getPeerCertificate() : undefined;
  return { tls: true, certNames: cert === undefined || cert.raw === undefined ? undefined : certificateNames(cert), address };
}

/** Each accepted Unix socket connection's peer credentials (SO_PEERCRED), kept while the socket lives. */
const peerCreds = new WeakMap<Socket, PeerCredentials>();
