/**
 * A TCP proxy of the tests' own between one "host" (a daemon, or a store
 * opened in the test) and PostgreSQL, on loopback, that models the faults
 * of the path between them without touching the server everyone else uses.
 * The one proxy of the test suites (test/hosts, test/fleet, test/store).
 *
 * - `freeze()`: nothing is forwarded either way on any connection, nothing is
 *   closed (a black-holed path: the server alive, no FIN, no RST). The
 *   sockets are paused, so bytes wait — in the kernel buffers, or held here
 *   if they were already read — and are delivered on `thaw()`, as TCP
 *   retransmission would once the path heals. A side that ends or closes
 *   meanwhile is passed on only at the thaw: the other side learns nothing
 *   while frozen. New connections made while frozen are accepted and frozen
 *   as well, so a client's connect times out on its own deadline.
 * - `freezeListen()`: only the connections that sent `LISTEN` (recognised in
 *   the client's protocol stream: a simple Query, or a Parse, whose text
 *   starts with LISTEN) stop forwarding — the half-open LISTEN connection of
 *   issue 18, while the host's queries still work. With
 *   `{ reconnects: true }` a connection that sends LISTEN later is frozen as
 *   it does, that LISTEN held (every LISTEN the host tries is lost), until
 *   `thaw()`; without, a reconnected listener goes through.
 * - `holdNew()`: connections made from now on are accepted but not forwarded
 *   until `thaw()` (a server that no longer answers new connections).
 * - `cut()`: every connection is reset (RST), both sides.
 *
 * `upstreamPorts()` are the local ports of its connections to the server:
 * pg_stat_activity.client_port, to find this host's backends. `stats()`
 * counts the open connections (a closed side of a frozen one still counts
 * until the thaw passes its close on), the frozen ones and the LISTENers.
 *
 *   const proxy = await PgProxy.start(url);
 *   atScopeEnd(() => proxy.close());          // or close() yourself
 *   const store = await openPostgresStore({ url: proxy.rewrite(url), … });
 *   proxy.freezeListen({ reconnects: true }); … proxy.thaw();
 */
import { createServer, connect, type Server, type Socket } from "node:net";
import type { AddressInfo } from "node:net";

/** Startup-phase request codes (no type byte before the length). */
const SSL_REQUEST = 80877103;
const GSSENC_REQUEST = 80877104;
const CANCEL_REQUEST = 80877102;

interface Pair {
  readonly id: number;
  readonly client: Socket;
  readonly upstream: Socket;
  /** The client sent LISTEN on it. */
  listen: boolean;
  /** Not forwarding either way. */
  frozen: boolean;
  /** Chunks read while frozen (already in flight when the freeze came, or the LISTEN that froze it), in order, written at the thaw. */
  readonly held: Array<{ to: Socket; chunk: Buffer }>;
  /** A side ended, closed or failed while frozen: the pair closes at the thaw. */
  gone: boolean;
  closed: boolean;
}

export interface PgProxyStats {
  open: number;
  frozen: number;
  listen: number;
}

export class PgProxy {
  readonly #server: Server;
  readonly #target: { host: string; port: number };
  readonly #pairs = new Set<Pair>();
  #frozenAll = false;
  #holdNew = false;
  /** Connections that send LISTEN from now on are frozen as they do. */
  #freezeListenReconnects = false;
  #nextId = 1;
  /** Every connection ever accepted. */
  accepted = 0;

  private constructor(server: Server, target: { host: string; port: number }) {
    this.#server = server;
    this.#target = target;
    server.on("connection", (client) => this.#accept(client));
  }

  /** A proxy on 127.0.0.1 (ephemeral port) to `targetUrl`'s host and port. */
  static async start(targetUrl: string): Promise<PgProxy> {
    const u = new URL(targetUrl);
    const host = u.hostname === "" ? "127.0.0.1" : u.hostname;
    if (host !== "127.0.0.1" && host !== "localhost" && host !== "::1") throw new Error(`PgProxy is loopback only, not ${host}`);
    const server = createServer({ noDelay: true });
    await new Promise<void>((resolve, reject) => {
      server.once("error", reject);
      server.listen(0, "127.0.0.1", () => resolve());
    });
    return new PgProxy(server, { host, port: Number(u.port === "" ? 5432 : u.port) });
  }

  get port(): number {
    return (this.#server.address() as AddressInfo).port;
  }

  /** `url` with its host and port replaced by this proxy's. */
  rewrite(url: string): string {
    const u = new URL(url);
    u.hostname = "127.0.0.1";
    u.port = String(this.port);
    return u.toString();
  }

  /** Stop forwarding on every connection, present and future, without closing any. */
  freeze(): void {
    this.#frozenAll = true;
    for (const p of this.#pairs) this.#setFrozen(p, true);
  }

  /**
   * Stop forwarding on the connections that LISTENed; returns how many.
   * `reconnects`: also freeze every connection that sends LISTEN later, as it does.
   */
  freezeListen(opts: { reconnects?: boolean } = {}): number {
    if (opts.reconnects === true) this.#freezeListenReconnects = true;
    let n = 0;
    for (const p of this.#pairs) {
      if (!p.listen || p.closed) continue;
      this.#setFrozen(p, true);
      n++;
    }
    return n;
  }

  /** Connections accepted from now on are held (not forwarded) until thaw(). */
  holdNew(): void {
    this.#holdNew = true;
  }

  /** Forward again on every connection; what waited is delivered, and a side that closed meanwhile closes the other. */
  thaw(): void {
    this.#frozenAll = false;
    this.#holdNew = false;
    this.#freezeListenReconnects = false;
    for (const p of [...this.#pairs]) this.#setFrozen(p, false);
  }

  /** Reset every connection (both sides). */
  cut(): void {
    for (const p of [...this.#pairs]) this.#close(p, true);
  }

  /** Local ports of the upstream sockets of open connections (pg_stat_activity.client_port). */
  upstreamPorts(): number[] {
    const ports: number[] = [];
    for (const p of this.#pairs) if (!p.closed && p.upstream.localPort !== undefined) ports.push(p.upstream.localPort);
    return ports;
  }

  stats(): PgProxyStats {
    let frozen = 0;
    let listen = 0;
    for (const p of this.#pairs) {
      if (p.frozen) frozen++;
      if (p.listen) listen++;
    }
    return { open: this.#pairs.size, frozen, listen };
  }

  /** Resets every connection and stops listening; safe to call twice. */
  async close(): Promise<void> {
    this.cut();
    if (!this.#server.listening) return;
    await new Promise<void>((resolve) => this.#server.close(() => resolve()));
  }

  #accept(client: Socket): void {
    this.accepted++;
    client.setNoDelay(true);
    const upstream = connect({ host: this.#target.host, port: this.#target.port, noDelay: true });
    const pair: Pair = { id: this.#nextId++, client, upstream, listen: false, frozen: false, held: [], gone: false, closed: false };
    this.#pairs.add(pair);
    const sniff = clientSniffer(() => {
      pair.listen = true;
      // Frozen before this chunk is forwarded: the LISTEN itself is held.
      if (this.#freezeListenReconnects) this.#setFrozen(pair, true);
    });
    const forward =
      (from: Socket, to: Socket, fromClient: boolean) =>
      (chunk: Buffer): void => {
        if (fromClient) sniff(chunk);
        if (pair.frozen) {
          pair.held.push({ to, chunk });
          return;
        }
        if (!to.write(chunk)) from.pause();
      };
    client.on("data", forward(client, upstream, true));
    upstream.on("data", forward(upstream, client, false));
    // Back-pressure resumes reading, unless the pair is frozen.
    upstream.on("drain", () => {
      if (!pair.frozen) client.resume();
    });
    client.on("drain", () => {
      if (!pair.frozen) upstream.resume();
    });
    const end = (): void => {
      if (pair.frozen) pair.gone = true;
      else this.#close(pair, false);
    };
    for (const s of [client, upstream]) {
      s.on("error", end);
      s.on("end", end);
      s.on("close", end);
    }
    if (this.#frozenAll || this.#holdNew) this.#setFrozen(pair, true);
  }

  #setFrozen(p: Pair, frozen: boolean): void {
    if (p.closed) return;
    p.frozen = frozen;
    if (frozen) {
      p.client.pause();
      p.upstream.pause();
      return;
    }
    for (const { to, chunk } of p.held.splice(0)) if (!to.destroyed) to.write(chunk);
    if (p.gone) {
      this.#close(p, false);
      return;
    }
    p.client.resume();
    p.upstream.resume();
  }

  #close(p: Pair, reset: boolean): void {
    if (p.closed) return;
    p.closed = true;
    this.#pairs.delete(p);
    for (const s of [p.client, p.upstream]) {
      if (s.destroyed) continue;
      if (reset && !s.connecting) s.resetAndDestroy();
      else if (reset) s.destroy();
      // What was written (held chunks included) goes out before the FIN.
      else s.destroySoon();
    }
  }
}

/**
 * Follows the frontend (client → server) message stream and calls
 * `onListen` when a Query or Parse message's SQL starts with LISTEN. The
 * startup phase has no type byte: an SSLRequest or GSSENCRequest (answered
 * with one byte, then the real startup message) or the StartupMessage. If the
 * connection turns to TLS the stream is opaque; sniffing stops.
 */
export function clientSniffer(onListen: () => void): (chunk: Buffer) => void {
  let buf: Buffer = Buffer.alloc(0);
  let startup = true;
  let afterEncryptionRequest = false;
  let opaque = false;
  return (chunk) => {
    if (opaque) return;
    buf = buf.length === 0 ? chunk : Buffer.concat([buf, chunk]);
    for (;;) {
      if (afterEncryptionRequest && buf.length > 0) {
        // The server's one-byte answer decided: a client that goes on in the clear sends a StartupMessage;
        // one that starts TLS sends a ClientHello (0x16), which is no length we can follow.
        afterEncryptionRequest = false;
        if (buf[0] === 0x16) {
          opaque = true;
          return;
        }
      }
      if (startup) {
        if (buf.length < 8) return;
        const len = buf.readInt32BE(0);
        if (buf.length < len) return;
        const code = buf.readInt32BE(4);
        buf = buf.subarray(len);
        if (code === SSL_REQUEST || code === GSSENC_REQUEST) {
          afterEncryptionRequest = true;
          continue;
        }
        if (code === CANCEL_REQUEST) return;
        startup = false;
        continue;
      }
      if (buf.length < 5) return;
      const type = String.fromCharCode(buf[0]!);
      const len = buf.readInt32BE(1);
      if (buf.length < 1 + len) return;
      const body = buf.subarray(5, 1 + len);
      buf = buf.subarray(1 + len);
      let sql: string | undefined;
      if (type === "Q") sql = body.toString("utf8", 0, Math.max(0, body.indexOf(0)));
      else if (type === "P") {
        const nameEnd = body.indexOf(0);
        sql = body.toString("utf8", nameEnd + 1, body.indexOf(0, nameEnd + 1));
      }
      if (sql !== undefined && /^\s*LISTEN\s/i.test(sql)) onListen();
    }
  };
}
