import type { CallFailure } from "./daemon-error.js";
import { probeSpeaker, type Speaker } from "./transport-probe.js";

/**
 * A call that failed with no daemon error at a TCP address: the CLI looks at
 * what answers there and says in one line what is wrong and what to use —
 * the TLS listener asked without TLS, the web listener asked for gRPC, the
 * gRPC port asked for Connect, a certificate this CLI does not trust —
 * instead of the transport's words ("write EPIPE", "Protocol error"). "is it
 * running?" only when nothing listens. Exit 2 for a mismatch or an untrusted
 * certificate (the command line must change; retrying does not help).
 */
export async function explainTransportFailure(f: CallFailure, rawMessage: string, address: string, tls: { ca?: Buffer | undefined }): Promise<CallFailure> {
  const m = /^(tcp|tls|http|https):\/\/(.+):(\d+)\/?$/.exec(address);
  const untrusted = UNTRUSTED.exec(rawMessage);
  if (untrusted !== null && (m?.[1] === "tls" || m?.[1] === "https")) return untrustedFailure(f, address, untrusted[0]);
  if (m === null) return f;
  const scheme = m[1] as "tcp" | "tls" | "http" | "https";
  const host = (m[2] as string).replace(/^\[|\]$/g, "");
  const port = Number(m[3]);
  const speaker = await probeSpeaker(host, port, tls);
  const hostPort = `${m[2]}:${port}`;
  const mismatch = (what: string, use: string): CallFailure => ({ code: f.code, reason: "ADDRESS_MISMATCH", message: `${address} ${what}; use --addr ${use}` });
  switch (speaker.kind) {
    case "refused":
      return { code: f.code, reason: "DAEMON_UNREACHABLE", message: `cannot reach the daemon at ${address} (${speaker.code === "ECONNREFUSED" ? "connection refused" : speaker.code}); is it running? set TOKENBROKER_ADDR` };
    case "tls":
      if (speaker.alpn === "h2") {
        if (scheme === "tls") return speaker.trusted || tls.ca === undefined ? notExplained(f, address, rawMessage) : untrustedFailure(f, address, speaker.why ?? "untrusted");
        return mismatch("is a TLS gRPC listener (gRPC over TLS)", `tls://${hostPort} with --cacert FILE (and --cert/--key for mTLS)`);
      }
      if (scheme === "https") return speaker.trusted || tls.ca === undefined ? notExplained(f, address, rawMessage) : untrustedFailure(f, address, speaker.why ?? "untrusted");
      return mismatch("is the web listener over TLS (Connect, gRPC-Web; HTTPS)", `https://${hostPort} with --cacert FILE`);
    case "http1":
      if (scheme === "http") return notExplained(f, address, rawMessage);
      if (scheme === "https") return mismatch("is the web listener without TLS (Connect, gRPC-Web over HTTP/1.1)", `http://${hostPort}`);
      return mismatch("is the web listener (Connect, gRPC-Web over HTTP/1.1, no TLS), not a gRPC listener", `http://${hostPort}`);
    case "h2c":
      if (scheme === "tcp") return notExplained(f, address, rawMessage);
      return mismatch("is a gRPC listener without TLS (HTTP/2), not " + (scheme === "tls" ? "TLS" : "the web listener"), `tcp://${hostPort}`);
    case "unknown":
      return notExplained(f, address, rawMessage);
  }
}

const UNTRUSTED = /self[- ]signed certificate(?: in certificate chain)?|unable to verify the first certificate|unable to get local issuer certificate|certificate has expired|Hostname\/IP does not match certificate's altnames[^;)]*|certificate is not yet valid/;

function untrustedFailure(f: CallFailure, address: string, why: string): CallFailure {
  return {
    code: f.code,
    reason: "TLS_UNTRUSTED",
    message: `the daemon at ${address} presented a certificate this CLI does not trust (${why}); give the CA that issued it with --cacert FILE (or NODE_EXTRA_CA_CERTS=FILE)`,
  };
}

/** Something listens and speaks what the address says: never "is it running?". */
function notExplained(f: CallFailure, address: string, rawMessage: string): CallFailure {
  if (f.reason !== "DAEMON_UNREACHABLE") return f;
  return { ...f, message: `something listens at ${address} as expected, but the call failed: ${rawMessage}` };
}

export type { Speaker };
