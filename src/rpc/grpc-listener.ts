import * as grpc from "@grpc/grpc-js";
import { hostForUrl, tcpAddress, type ListenAddress } from "../net/listen-address.js";
import { finishUnixSocket, prepareUnixSocket, removeUnixSocket } from "../net/unix-socket.js";
import type { ActivatedSocket } from "../systemd/activation.js";
import { addGrpcService } from "./grpc-transport.js";
import type { AnyImpl, RpcService } from "./service.js";

export interface GrpcListener {
  /** The addresses actually bound (TCP port 0 resolved). */
  readonly bound: ListenAddress[];
  /** Stops accepting, lets in-flight calls finish for `graceMs`, then cuts the rest. */
  shutdown(graceMs: number): Promise<void>;
}

/**
 * One grpc-js server per listener kind, so every call knows for certain
 * whether it came over a Unix socket or TCP (caller auth depends on it).
 * Sockets inherited from systemd (socket activation) join the server of
 * their kind.
 */
export async function startGrpcListeners(
  addresses: ListenAddress[],
  services: Array<{ service: RpcService; impl: Record<string, AnyImpl> }>,
  shutdownSignal: AbortSignal,
  inherited: ActivatedSocket[] = [],
): Promise<GrpcListener> {
  const listeners: GrpcListener[] = [];
  try {
    for (const kind of ["unix", "tcp"] as const) {
      const group = addresses.filter((a) => a.kind === kind);
      const inheritedGroup = inherited.filter((s) => s.kind === kind);
      if (group.length + inheritedGroup.length > 0) listeners.push(await startGrpcListener(kind, group, inheritedGroup, services, shutdownSignal));
    }
  } catch (err) {
    await Promise.all(listeners.map((l) => l.shutdown(0)));
    throw err;
  }
  // Report bound addresses in config order (TCP port 0 resolved).
  const boundTcp = listeners.flatMap((l) => l.bound).filter((a) => a.kind === "tcp");
  return {
    bound: [...addresses.map((a) => (a.kind === "unix" ? a : (boundTcp.shift() ?? a))), ...inherited.map((s) => s.address)],
    async shutdown(graceMs) {
      await Promise.all(listeners.map((l) => l.shutdown(graceMs)));
    },
  };
}

async function startGrpcListener(
  kind: "unix" | "tcp",
  addresses: ListenAddress[],
  inherited: ActivatedSocket[],
  services: Array<{ service: RpcService; impl: Record<string, AnyImpl> }>,
  shutdownSignal: AbortSignal,
): Promise<GrpcListener> {
  const server = new grpc.Server({
    "grpc.max_receive_message_length": 1024 * 1024,
    "grpc.max_send_message_length": 4 * 1024 * 1024,
  });
  for (const { service, impl } of services) addGrpcService(server, service.desc, impl, shutdownSignal, kind);

  const bound: ListenAddress[] = [];
  const unixPaths: string[] = [];
  try {
    for (const addr of addresses) {
      if (addr.kind === "unix") {
        await prepareUnixSocket(addr.path);
        await bind(server, `unix://${addr.path}`);
        await finishUnixSocket(addr.path);
        unixPaths.push(addr.path);
        bound.push(addr);
      } else {
        const port = await bind(server, `${hostForUrl(addr.host)}:${addr.port}`);
        bound.push(tcpAddress(addr.host, port));
      }
    }
  } catch (err) {
    server.forceShutdown();
    await Promise.all(unixPaths.map(removeUnixSocket));
    throw err;
  }
  // grpc-js cannot bind a descriptor, but it serves any connection injected
  // into it; the injector's HTTP/2 sessions are drained by tryShutdown and
  // cut by forceShutdown like those of bound ports.
  for (const socket of inherited) {
    const injector = server.createConnectionInjector(grpc.ServerCredentials.createInsecure());
    socket.onConnection((conn) => injector.injectConnection(conn));
  }

  return {
    bound,
    async shutdown(graceMs: number) {
      // Stop accepting; the inherited socket itself stays (systemd owns it).
      for (const socket of inherited) socket.close();
      await new Promise<void>((resolve) => {
        const timer = setTimeout(() => {
          server.forceShutdown();
          resolve();
        }, graceMs);
        server.tryShutdown(() => {
          clearTimeout(timer);
          resolve();
        });
      });
      await Promise.all(unixPaths.map(removeUnixSocket));
    },
  };
}

function bind(server: grpc.Server, target: string): Promise<number> {
  return new Promise((resolve, reject) => {
    server.bindAsync(target, grpc.ServerCredentials.createInsecure(), (err, port) => {
      if (err) reject(new Error(`cannot listen on ${target}: ${err.message}`));
      else resolve(port);
    });
  });
}
