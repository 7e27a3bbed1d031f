import { hostForUrl, type ListenAddress } from "./listen-address.js";
import type { TlsFilePaths } from "./tls-files.js";

/** What one listener speaks, for the serve log and `status` (GetServerStatus's listener_details). */
export interface ListenerFact {
  /** The bound address: unix://… or tcp://host:port (port 0 resolved). */
  address: string;
  /** "grpc" (a gRPC listener: HTTP/2) or "connect" (the web listener: Connect, gRPC-Web, /healthz, /metrics; HTTP/1.1). */
  protocol: "grpc" | "connect";
  tls: boolean;
  /** A TLS listener with client_ca_file: it asks for client certificates (mTLS; optional for the client). */
  mtls: boolean;
  /** What the CLI's --addr takes to reach it: unix://, tcp://, tls://, http://, https://; "" when the CLI cannot. */
  cliAddress: string;
}

type Bound = ListenAddress & { tls?: TlsFilePaths | undefined };

export function listenerFacts(grpc: readonly Bound[], http: Bound | undefined): ListenerFact[] {
  const fact = (a: Bound, protocol: "grpc" | "connect"): ListenerFact => {
    const tls = a.tls !== undefined;
    const hostPort = a.kind === "tcp" ? `${hostForUrl(a.host)}:${a.port}` : "";
    const cliAddress = a.kind === "unix" ? (protocol === "grpc" ? a.url : "") : `${protocol === "grpc" ? (tls ? "tls" : "tcp") : tls ? "https" : "http"}://${hostPort}`;
    return { address: a.url, protocol, tls, mtls: a.tls?.clientCaFile !== undefined, cliAddress };
  };
  return [...grpc.map((a) => fact(a, "grpc")), ...(http !== undefined ? [fact(http, "connect")] : [])];
}

/** One line: `tcp://127.0.0.1:7480 (gRPC, TLS, mTLS; --addr tls://127.0.0.1:7480)`. */
export function describeListener(f: ListenerFact): string {
  const what = [f.protocol === "grpc" ? "gRPC" : "Connect, gRPC-Web", f.tls ? "TLS" : "no TLS", ...(f.mtls ? ["mTLS"] : [])].join(", ");
  return `${f.address} (${what}${f.cliAddress !== "" && f.cliAddress !== f.address ? `; --addr ${f.cliAddress}` : ""})`;
}
