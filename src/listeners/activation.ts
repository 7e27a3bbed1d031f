import { readFileSync, readlinkSync } from "node:fs";
import { createServer, type Socket } from "node:net";
import { isLoopbackHost, tcpAddress, type ListenAddress } from "../listen/listen-address.js";

/** First descriptor systemd passes (SD_LISTEN_FDS_START). */
export const LISTEN_FDS_START = 3;

export interface ListenFd {
  fd: number;
  /** From LISTEN_FDNAMES (FileDescriptorName=), when given. */
  name: string | undefined;
}

/**
 * sd_listen_fds(unset_environment=1): the sockets systemd passed to this
 * process. Empty unless LISTEN_PID is our pid and LISTEN_FDS ≥ 1. LISTEN_PID,
 * LISTEN_FDS and LISTEN_FDNAMES are removed from `env` in every case, so no
 * child process mistakes them for its own.
 */
export function takeListenFds(env: NodeJS.ProcessEnv = process.env, pid: number = process.pid): ListenFd[] {
  const { LISTEN_PID: listenPid, LISTEN_FDS: listenFds, LISTEN_FDNAMES: names } = env;
  delete env.LISTEN_PID;
  delete env.LISTEN_FDS;
  delete env.LISTEN_FDNAMES;
  if (listenPid === undefined || listenFds === undefined) return [];
  // Meant for another process (e.g. inherited through a wrapper that forked).
  if (listenPid !== String(pid)) return [];
  if (!/^\d+$/.test(listenFds)) throw new Error(`socket activation: LISTEN_FDS=${JSON.stringify(listenFds)} is not a number`);
  const n = Number(listenFds);
  const nameList = names === undefined ? undefined : names.split(":");
  if (nameList !== undefined && nameList.length !== n) {
    throw new Error(`socket activation: LISTEN_FDNAMES has ${nameList.length} names for ${n} descriptors`);
  }
  return Array.from({ length: n }, (_, i) => ({ fd: LISTEN_FDS_START + i, name: nameList?.[i] }));
}

/** An inherited listening socket, accepting connections. systemd owns it: closing never unlinks it. */
export interface ActivatedSocket {
  readonly fd: number;
  readonly name: string | undefined;
  /** "unix" for an AF_UNIX socket: caller auth treats its calls like the configured Unix socket's. */
  readonly kind: "unix" | "tcp";
  /** unix://PATH (found through /proc; `fd:N` when it cannot be), or tcp://host:port. */
  readonly address: ListenAddress;
  /**
   * Hands every accepted connection to `handler`, starting with those
   * accepted before it was set (the socket accepts from the moment it is
   * taken over, and clients may have queued long before).
   */
  onConnection(handler: (conn: Socket) => void): void;
  /** Stops accepting. Does not wait for accepted connections. */
  close(): void;
}

/** The descriptor names tokenbroker serves gRPC on: "grpc", or systemd's defaults. */
function servesGrpc(name: string | undefined): boolean {
  // Without FileDescriptorName= systemd names a descriptor after its .socket
  // unit; sd_listen_fds_with_names() reports "unknown" when there are no names.
  return name === undefined || name === "" || name === "grpc" || name === "unknown" || name.endsWith(".socket");
}

/**
 * Starts accepting on the inherited descriptors. Every one of them serves
 * gRPC. A descriptor named "grpc" (or systemd's default name) is served
 * wherever it is; one with another name (FileDescriptorName=jobs) only when
 * `configured` says a gRPC listener is configured at its address — it then
 * takes that listener's settings. Any other is refused rather than silently
 * served as gRPC with default settings (a "jobs" socket served tokenless, or
 * FileDescriptorName=http served as gRPC).
 */
export async function listenOnFds(fds: ListenFd[], configured: (address: ListenAddress) => boolean = () => false): Promise<ActivatedSocket[]> {
  const sockets: ActivatedSocket[] = [];
  try {
    for (const { fd, name } of fds) {
      const socket = await listenOnFd(fd, name);
      if (!servesGrpc(name) && !configured(socket.address)) {
        socket.close();
        throw new Error(
          `socket activation: descriptor ${fd} is named "${name}" and is at ${socket.address.url}, where listen.grpc has no listener; tokenbroker serves gRPC on sockets named "grpc" (FileDescriptorName=grpc) or at a configured listen.grpc address`,
        );
      }
      sockets.push(socket);
    }
  } catch (err) {
    for (const s of sockets) s.close();
    throw err;
  }
  return sockets;
}

async function listenOnFd(fd: number, name: string | undefined): Promise<ActivatedSocket> {
  let handler: ((conn: Socket) => void) | undefined;
  const early: Socket[] = [];
  const server = createServer((conn) => {
    if (handler !== undefined) handler(conn);
    else early.push(conn);
  });
  await new Promise<void>((resolve, reject) => {
    const onError = (err: Error): void => reject(new Error(`socket activation: cannot listen on descriptor ${fd}: ${err.message}`));
    server.once("error", onError);
    try {
      server.listen({ fd }, () => {
        server.off("error", onError);
        resolve();
      });
    } catch (err) {
      onError(err as Error);
    }
  });
  // Node reports a TCP socket's address; a Unix socket's (a "pipe" to libuv) is null.
  const a = server.address();
  let address: ListenAddress;
  if (typeof a === "object" && a !== null) {
    if (!isLoopbackHost(a.address)) {
      server.close();
      for (const conn of early.splice(0)) conn.destroy();
      throw new Error(`socket activation: descriptor ${fd} is a TCP socket on ${a.address}; a passed TCP socket is served without TLS, so it must be on loopback`);
    }
    address = tcpAddress(a.address, a.port);
  } else {
    const path = unixSocketPath(fd);
    address = { kind: "unix", path: path ?? "", url: path !== undefined ? `unix://${path}` : `fd:${fd}` };
  }
  return {
    fd,
    name,
    kind: address.kind,
    address,
    onConnection(h) {
      handler = h;
      for (const conn of early.splice(0)) h(conn);
    },
    close() {
      // libuv unlinks only socket paths it bound itself, never an inherited one.
      if (server.listening) server.close();
      for (const conn of early.splice(0)) conn.destroy();
    },
  };
}

/**
 * The path a listening Unix socket is bound to, from /proc/self/net/unix by
 * the socket's inode (Node has no getsockname for Unix sockets). Undefined
 * when /proc is not readable or the socket is unnamed.
 */
export function unixSocketPath(fd: number): string | undefined {
  try {
    const inode = /^socket:\[(\d+)\]$/.exec(readlinkSync(`/proc/self/fd/${fd}`))?.[1];
    if (inode === undefined) return undefined;
    for (const line of readFileSync("/proc/self/net/unix", "utf8").split("\n").slice(1)) {
      // Num RefCount Protocol Flags Type St Inode Path
      const cols = line.trim().split(/\s+/);
      if (cols[6] === inode && cols.length >= 8) return cols.slice(7).join(" ");
    }
  } catch {
    // no /proc (or hidden): the caller falls back to fd:N
  }
  return undefined;
}
