import { Socket, connect as netConnect } from "node:net";
import { connect as tlsConnect } from "node:tls";

/**
 * What speaks at a TCP address, told from how it answers — for the CLI's
 * one line when a call failed without any daemon error: nothing listens, a
 * TLS listener (gRPC if it picks h2 by ALPN, else the web listener), an
 * HTTP/1.1 server (the web listener), or plaintext HTTP/2 (a gRPC listener).
 *
 * The probe sends what a plaintext gRPC client sends first (the HTTP/2
 * preface) and reads the first bytes back: a TLS record (alert or
 * handshake, 0x15/0x16 0x03 …), `HTTP/1.x` (an HTTP/1.1 server's 400),
 * or an HTTP/2 SETTINGS frame. A server that only closes is asked once more
 * with a TLS handshake.
 */
export type Speaker =
  | { kind: "refused"; code: string }
  | { kind: "tls"; alpn: string | false; trusted: boolean; why?: string }
  | { kind: "http1" }
  | { kind: "h2c" }
  | { kind: "unknown" };

const PREFACE = Buffer.from("PRI * HTTP/2.0\r\n\r\nSM\r\n\r\n\x00\x00\x00\x04\x00\x00\x00\x00\x00", "latin1");

export async function probeSpeaker(host: string, port: number, tls: { ca?: Buffer | undefined } = {}, timeoutMs = 2000): Promise<Speaker> {
  const first = await firstBytes(host, port, timeoutMs);
  if ("refused" in first) return { kind: "refused", code: first.refused };
  const b = first.bytes;
  if (b.length >= 2 && (b[0] === 0x15 || b[0] === 0x16) && b[1] === 0x03) return probeTls(host, port, tls, timeoutMs);
  if (b.subarray(0, 7).toString("latin1") === "HTTP/1.") return { kind: "http1" };
  // An HTTP/2 frame header: 3 bytes of length, then type 4 (SETTINGS) or 7 (GOAWAY).
  if (b.length >= 4 && (b[3] === 0x04 || b[3] === 0x07)) return { kind: "h2c" };
  if (b.length === 0) {
    const t = await probeTls(host, port, tls, timeoutMs);
    return t.kind === "tls" ? t : { kind: "unknown" };
  }
  return { kind: "unknown" };
}

function firstBytes(host: string, port: number, timeoutMs: number): Promise<{ bytes: Buffer } | { refused: string }> {
  return new Promise((resolve) => {
    const socket: Socket = netConnect({ host, port });
    let got = Buffer.alloc(0);
    const done = (r: { bytes: Buffer } | { refused: string }): void => {
      clearTimeout(timer);
      socket.destroy();
      resolve(r);
    };
    const timer = setTimeout(() => done({ bytes: got }), timeoutMs);
    socket.once("connect", () => socket.write(PREFACE));
    socket.on("data", (d: Buffer) => {
      got = Buffer.concat([got, d]);
      if (got.length >= 9) done({ bytes: got });
    });
    socket.once("end", () => done({ bytes: got }));
    socket.once("close", () => done({ bytes: got }));
    socket.once("error", (err: NodeJS.ErrnoException) => {
      if (got.length > 0 || err.code === "ECONNRESET" || err.code === "EPIPE") done({ bytes: got });
      else done({ refused: err.code ?? "ERROR" });
    });
  });
}

function probeTls(host: string, port: number, tls: { ca?: Buffer | undefined }, timeoutMs: number): Promise<Speaker> {
  return new Promise((resolve) => {
    const socket = tlsConnect({ host, port, servername: isIp(host) ? undefined : host, ALPNProtocols: ["h2", "http/1.1"], rejectUnauthorized: false, ...(tls.ca ? { ca: tls.ca } : {}) });
    const done = (r: Speaker): void => {
      clearTimeout(timer);
      socket.destroy();
      resolve(r);
    };
    const timer = setTimeout(() => done({ kind: "unknown" }), timeoutMs);
    socket.once("secureConnect", () => {
      const why = socket.authorizationError === null ? undefined : String(socket.authorizationError);
      done({ kind: "tls", alpn: socket.alpnProtocol ?? false, trusted: socket.authorized, ...(why !== undefined ? { why } : {}) });
    });
    socket.once("error", () => done({ kind: "unknown" }));
  });
}

function isIp(host: string): boolean {
  return /^[\d.]+$/.test(host) || host.includes(":");
}
