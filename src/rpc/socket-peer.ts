import type { Socket } from "node:net";
import { peerCredentialsOf, type PeerCredentials } from "../listen/peer-credentials.js";

/**
 * How a gRPC call finds the kernel's credentials of the Unix socket
 * connection it came on. grpc-js serves connections we accept ourselves
 * (Server.createConnectionInjector), and a call can see its connection only
 * through `call.getPeer()`, which reads the socket's `remoteAddress` (empty
 * for a Unix socket). So the accepting code reads SO_PEERCRED once per
 * connection and writes the credentials into that socket's own
 * `remoteAddress`: every call on the connection carries them, none can
 * carry another connection's, and nothing has to be looked up or cleaned up
 * when the connection closes. A client cannot choose the string: it is the
 * server's own socket object.
 */
const PREFIX = "peercred:";

/** Reads the peer's credentials and stamps them on the socket; returns them. */
export function stampPeerCredentials(socket: Socket): PeerCredentials | undefined {
  const cred = peerCredentialsOf(socket);
  if (cred === undefined) return undefined;
  Object.defineProperty(socket, "remoteAddress", { value: `${PREFIX}${cred.uid}:${cred.gid}:${cred.pid}`, configurable: true });
  return cred;
}

/** The credentials a stamped connection's peer string carries; undefined for any other string. */
export function credentialsFromPeer(peer: string): PeerCredentials | undefined {
  if (!peer.startsWith(PREFIX)) return undefined;
  const [uid, gid, pid] = peer.slice(PREFIX.length).split(":").map(Number);
  if (!Number.isSafeInteger(uid) || !Number.isSafeInteger(gid) || !Number.isSafeInteger(pid)) return undefined;
  return { uid: uid as number, gid: gid as number, pid: pid as number };
}
