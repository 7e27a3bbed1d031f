import { createServer, type Server as NetServer, type Socket } from "node:net";
import * as grpc from "@grpc/grpc-js";
import { hostForUrl, tcpAddress, type ListenAddress } from "../listen/listen-address.js";
import { TlsFiles, reloadTlsFiles, type TlsFilePaths, type TlsMaterial } from "../listen/tls-files.js";
import { loadPeerCredentials } from "../listen/peer-credentials.js";
import { finishUnixSocket, prepareUnixSocket, removeUnixSocket } from "./unix-socket.js";
import type { ActivatedSocket } from "./activation.js";
import { InjectedConnections } from "./injected-connections.js";
import type { CallEnv } from "../rpc/grpc-context.js";
import { addGrpcService } from "../rpc/grpc-transport.js";
import type { AnyImpl, RpcService } from "../rpc/service.js";
import { stampPeerCredentials } from "../rpc/socket-peer.js";

/**
 * A gRPC listener's address, with certificate files for a TLS one, and
 * whether it serves calls without a caller credential (undefined: a Unix
 * socket does, TCP does not).
 */
export type GrpcAddress = ListenAddress & { tls?: TlsFilePaths | undefined; allowTokenless?: boolean | undefined };

/** A socket passed by systemd, with the tokenless setting of the configured listener it stands in for (undefined: its kind's default). */
export type InheritedSocket = ActivatedSocket & { allowTokenless?: boolean | undefined };

/** A TLS listener's served certificate, for the expiry metric. */
export interface TlsCertificateInfo {
  listener: string;
  notAfterMs: number;
}

export interface GrpcListener {
  /** The addresses actually bound (TCP port 0 resolved), with their TLS files. */
  readonly bound: GrpcAddress[];
  /**
   * Reads the TLS listeners' files again: new connections get the new
   * certificate, open ones carry on. Returns the problems of listeners that
   * kept their old certificate.
   */
  reloadTls(): string[];
  /** Each TLS listener's address and when the certificate it serves expires (epoch ms). */
  certificates(): TlsCertificateInfo[];
  /** Stops accepting, lets in-flight calls finish for `graceMs`, then cuts the rest. */
  shutdown(graceMs: number): Promise<void>;
}

type Services = Array<{ service: RpcService; impl: Record<string, AnyImpl> }>;

/**
 * One grpc-js server per listener kind and tokenless setting — Unix sockets,
 * plain TCP, and each TLS listener alone — so every call knows for certain
 * how it came (caller auth depends on it). Sockets inherited from systemd
 * (socket activation) join the server of their kind and setting (the
 * setting of the configured listener they stand in for, or the default).
 */
export async function startGrpcListeners(addresses: GrpcAddress[], services: Services, shutdownSignal: AbortSignal, inherited: InheritedSocket[] = []): Promise<GrpcListener> {
  const groups: Array<{ addresses: GrpcAddress[]; inherited: InheritedSocket[] }> = [];
  for (const kind of ["unix", "tcp"] as const) {
    const byDefault = kind === "unix";
    for (const tokenless of [byDefault, !byDefault]) {
      const group = addresses.filter((a) => a.kind === kind && a.tls === undefined && (a.allowTokenless ?? byDefault) === tokenless);
      const inheritedGroup = inherited.filter((s) => s.kind === kind && (s.allowTokenless ?? byDefault) === tokenless);
      if (group.length + inheritedGroup.length > 0) groups.push({ addresses: group, inherited: inheritedGroup });
    }
  }
  for (const a of addresses) if (a.tls !== undefined) groups.push({ addresses: [a], inherited: [] });

  const listeners: Array<GrpcListener & { addresses: GrpcAddress[] }> = [];
  try {
    for (const g of groups) listeners.push({ ...(await startGrpcListener(g.addresses, g.inherited, services, shutdownSignal)), addresses: g.addresses });
  } catch (err) {
    await Promise.all(listeners.map((l) => l.shutdown(0)));
    throw err;
  }
  const boundOf = new Map<GrpcAddress, ListenAddress>();
  for (const l of listeners) l.addresses.forEach((a, i) => boundOf.set(a, l.bound[i] ?? a));
  return {
    // In config order (TCP port 0 resolved), then the inherited sockets.
    bound: [...addresses.map((a) => ({ ...(boundOf.get(a) ?? a), tls: a.tls })), ...inherited.map((s) => s.address)],
    reloadTls() {
      return listeners.flatMap((l) => l.reloadTls());
    },
    certificates() {
      return listeners.flatMap((l) => l.certificates());
    },
    async shutdown(graceMs) {
      await Promise.all(listeners.map((l) => l.shutdown(graceMs)));
    },
  };
}

/** Binds `addresses` (all of one kind; a TLS one alone) on one grpc-js server. */
async function startGrpcListener(addresses: GrpcAddress[], inherited: InheritedSocket[], services: Services, shutdownSignal: AbortSignal): Promise<GrpcListener> {
  const kind = addresses[0]?.kind ?? inherited[0]?.kind ?? "tcp";
  // A Unix socket's calls carry the peer's credentials: without the addon, refuse to start.
  if (kind === "unix") loadPeerCredentials();
  const tlsPaths = addresses[0]?.tls;
  const tls = tlsPaths === undefined ? undefined : new TlsFiles(tlsPaths);
  const server = new grpc.Server({
    "grpc.max_receive_message_length": 1024 * 1024,
    "grpc.max_send_message_length": 4 * 1024 * 1024,
  });
  const env: Pick<CallEnv, "listenerKind" | "tls" | "allowTokenless"> = {
    listenerKind: kind,
    tls: tls === undefined ? "none" : tls.requestsClientCert ? "mtls" : "tls",
    allowTokenless: addresses[0]?.allowTokenless ?? inherited[0]?.allowTokenless,
  };
  for (const { service, impl } of services) addGrpcService(server, service.desc, impl, shutdownSignal, env);
  const credentials = tls === undefined ? grpc.ServerCredentials.createInsecure() : reloadableCredentials(tls);

  const bound: ListenAddress[] = [];
  const unixPaths: string[] = [];
  const unixServers: NetServer[] = [];
  // Unix sockets are accepted here and injected into grpc-js, so each
  // connection's peer credentials are read (SO_PEERCRED) before its first call.
  // Every injected connection is tracked: shutdown waits for them itself.
  const injected = new InjectedConnections();
  const inject = kind === "unix" ? peerStampingInjector(server, injected) : undefined;
  try {
    for (const addr of addresses) {
      if (addr.kind === "unix") {
        await prepareUnixSocket(addr.path);
        const netServer = createServer({ pauseOnConnect: false }, inject!);
        unixServers.push(netServer);
        await listenUnix(netServer, addr.path);
        await finishUnixSocket(addr.path);
        unixPaths.push(addr.path);
        bound.push(addr);
      } else {
        const port = await bind(server, `${hostForUrl(addr.host)}:${addr.port}`, credentials);
        bound.push(tcpAddress(addr.host, port));
      }
    }
  } catch (err) {
    for (const s of unixServers) s.close();
    server.forceShutdown();
    await Promise.all(unixPaths.map(removeUnixSocket));
    throw err;
  }
  // grpc-js cannot bind a descriptor, but it serves any connection injected
  // into it; the injector's HTTP/2 sessions are closed gracefully by
  // tryShutdown and cut by forceShutdown like those of bound ports (shutdown
  // below waits for them: InjectedConnections says why).
  for (const socket of inherited) {
    if (socket.kind === "unix") {
      socket.onConnection(inject ?? peerStampingInjector(server, injected));
      continue;
    }
    const injector = server.createConnectionInjector(grpc.ServerCredentials.createInsecure());
    socket.onConnection((conn) => injector.injectConnection(injected.track(conn)));
  }

  return {
    bound,
    reloadTls() {
      return tls === undefined ? [] : reloadTlsFiles(tls);
    },
    certificates() {
      return tls === undefined ? [] : bound.map((a) => ({ listener: a.url, notAfterMs: tls.notAfterMs }));
    },
    async shutdown(graceMs: number) {
      // Stop accepting; the inherited socket itself stays (systemd owns it).
      for (const socket of inherited) socket.close();
      for (const s of unixServers) s.close();
      // Drained once grpc-js says so and every injected connection has closed:
      // under Node 24 tryShutdown calls back before the injected sessions are
      // done (injected-connections.ts). After the grace the rest are cut.
      await new Promise<void>((resolve) => {
        const timer = setTimeout(() => {
          server.forceShutdown();
          injected.destroyAll();
          resolve();
        }, graceMs);
        let pending = 2;
        const drained = (): void => {
          if (--pending > 0) return;
          clearTimeout(timer);
          resolve();
        };
        server.tryShutdown(drained);
        void injected.closed().then(drained);
      });
      await Promise.all(unixPaths.map(removeUnixSocket));
    },
  };
}

/**
 * TLS credentials whose certificate can change while the server runs:
 * grpc-js's certificate-provider credentials call the HTTP/2 server's
 * setSecureContext on every update, which only new handshakes see.
 * A client CA makes the server ask for a client certificate without
 * requiring one (a caller may still send a bearer token instead).
 */
function reloadableCredentials(tls: TlsFiles): grpc.ServerCredentials {
  const provider = new FilesCertificateProvider(tls);
  return grpc.experimental.createCertificateProviderServerCredentials(provider, tls.requestsClientCert ? provider : null, false);
}

/**
 * A CertificateProvider over TlsFiles. grpc-js subscribes here just before it
 * registers the watcher that applies updates, so a new subscriber gets the
 * current material on the next tick (as grpc-js's own file watcher delivers
 * asynchronously), and every reload at once.
 */
class FilesCertificateProvider implements grpc.experimental.CertificateProvider {
  readonly #ca = new Set<grpc.experimental.CaCertificateUpdateListener>();
  readonly #identity = new Set<grpc.experimental.IdentityCertificateUpdateListener>();

  constructor(private readonly tls: TlsFiles) {
    tls.onChange((m) => {
      for (const l of this.#ca) l(caUpdate(m));
      for (const l of this.#identity) l(identityUpdate(m));
    });
  }

  addCaCertificateListener(listener: grpc.experimental.CaCertificateUpdateListener): void {
    this.#ca.add(listener);
    process.nextTick(() => this.#ca.has(listener) && listener(caUpdate(this.tls.material)));
  }

  removeCaCertificateListener(listener: grpc.experimental.CaCertificateUpdateListener): void {
    this.#ca.delete(listener);
  }

  addIdentityCertificateListener(listener: grpc.experimental.IdentityCertificateUpdateListener): void {
    this.#identity.add(listener);
    process.nextTick(() => this.#identity.has(listener) && listener(identityUpdate(this.tls.material)));
  }

  removeIdentityCertificateListener(listener: grpc.experimental.IdentityCertificateUpdateListener): void {
    this.#identity.delete(listener);
  }
}

function caUpdate(m: TlsMaterial): grpc.experimental.CaCertificateUpdate | null {
  return m.ca === undefined ? null : { caCertificate: m.ca };
}

function identityUpdate(m: TlsMaterial): grpc.experimental.IdentityCertificateUpdate {
  return { certificate: m.cert, privateKey: m.key };
}

/**
 * Accepts a Unix socket connection for grpc-js: its peer's credentials are
 * read from the kernel and stamped on the socket (socket-peer.ts), then it is
 * injected (and tracked, for shutdown). A connection whose credentials cannot
 * be read is closed.
 */
function peerStampingInjector(server: grpc.Server, injected: InjectedConnections): (conn: Socket) => void {
  const injector = server.createConnectionInjector(grpc.ServerCredentials.createInsecure());
  return (conn) => {
    try {
      stampPeerCredentials(conn);
    } catch {
      conn.destroy();
      return;
    }
    injector.injectConnection(injected.track(conn));
  };
}

function listenUnix(server: NetServer, path: string): Promise<void> {
  return new Promise((resolve, reject) => {
    const fail = (err: Error): void => reject(new Error(`cannot listen on unix://${path}: ${err.message}`));
    server.once("error", fail);
    server.listen(path, () => {
      server.off("error", fail);
      resolve();
    });
  });
}

function bind(server: grpc.Server, target: string, credentials: grpc.ServerCredentials): Promise<number> {
  return new Promise((resolve, reject) => {
    server.bindAsync(target, credentials, (err, port) => {
      if (err) reject(new Error(`cannot listen on ${target}: ${err.message}`));
      else resolve(port);
    });
  });
}
