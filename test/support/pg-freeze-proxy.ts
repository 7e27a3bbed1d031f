import { createConnection, createServer, type Server, type Socket } from "node:net";
import { atScopeEnd } from "./scope-cleanup.js";

/**
 * A loopback TCP proxy in front of a PostgreSQL server that can go silent:
 * a frozen connection stays open on both sides (no FIN, no RST) but nothing
 * crosses it, as when a path drops packets while the server is alive. The
 * sockets are paused, so the bytes wait in the kernel and cross after a
 * thaw, like a partition that heals.
 *
 * `freeze("all")` freezes every connection, and every new one as it comes;
 * `freeze("listen")` only the connections whose client has sent `LISTEN`
 * (the store's notification connection), now and as they send it.
 * Closed when the caller's scope ends.
 */
export class PgFreezeProxy {
  readonly #server: Server;
  readonly #pairs = new Set<Pair>();
  #mode: "none" | "all" | "listen" = "none";
  /** Connections the proxy has accepted, ever. */
  accepted = 0;

  private constructor(
    server: Server,
    readonly port: number,
  ) {
    this.#server = server;
  }

  static async start(targetUrl: string): Promise<PgFreezeProxy> {
    const target = new URL(targetUrl);
    const targetPort = Number(target.port || 5432);
    const server = createServer();
    await new Promise<void>((resolve, reject) => {
      server.once("error", reject);
      server.listen(0, "127.0.0.1", () => resolve());
    });
    const address = server.address();
    if (typeof address !== "object" || address === null) throw new Error("the proxy has no port");
    const proxy = new PgFreezeProxy(server, address.port);
    server.on("connection", (client) => proxy.#accept(client, target.hostname, targetPort));
    atScopeEnd(() => proxy.close());
    return proxy;
  }

  /** `url` with its host and port replaced by the proxy's. */
  url(url: string): string {
    const u = new URL(url);
    u.hostname = "127.0.0.1";
    u.port = String(this.port);
    return u.toString();
  }

  freeze(mode: "all" | "listen"): void {
    this.#mode = mode;
    for (const pair of this.#pairs) if (mode === "all" || pair.listen) pair.freeze();
  }

  thaw(): void {
    this.#mode = "none";
    for (const pair of this.#pairs) pair.thaw();
  }

  /** Connections open now, and how many of them are frozen. */
  get open(): { total: number; frozen: number } {
    let frozen = 0;
    for (const pair of this.#pairs) if (pair.frozen) frozen++;
    return { total: this.#pairs.size, frozen };
  }

  async close(): Promise<void> {
    for (const pair of this.#pairs) pair.destroy();
    await new Promise<void>((resolve) => this.#server.close(() => resolve()));
  }

  #accept(client: Socket, host: string, port: number): void {
    this.accepted++;
    const upstream = createConnection({ host, port });
    const pair = new Pair(client, upstream, () => this.#pairs.delete(pair));
    this.#pairs.add(pair);
    if (this.#mode === "all") pair.freeze();
    pair.onListen = () => {
      if (this.#mode === "listen") pair.freeze();
    };
  }
}

class Pair {
  frozen = false;
  /** The client sent a LISTEN statement on this connection. */
  listen = false;
  onListen: () => void = () => undefined;
  /** Bytes read from a side while frozen, written on thaw (each side's last chunk before a pause). */
  readonly #held: Array<{ to: Socket; chunk: Buffer }> = [];
  /** A side that ended or closed while frozen: passed on at thaw. */
  readonly #ended = new Set<Socket>();
  readonly #closed = new Set<Socket>();

  constructor(
    readonly client: Socket,
    readonly upstream: Socket,
    private readonly onGone: () => void,
  ) {
    this.#wire(client, upstream, true);
    this.#wire(upstream, client, false);
  }

  freeze(): void {
    this.frozen = true;
    this.client.pause();
    this.upstream.pause();
  }

  thaw(): void {
    if (!this.frozen) return;
    this.frozen = false;
    for (const { to, chunk } of this.#held.splice(0)) to.write(chunk);
    const other = (side: Socket): Socket => (side === this.client ? this.upstream : this.client);
    for (const side of this.#ended) other(side).end();
    for (const side of this.#closed) other(side).destroy();
    this.client.resume();
    this.upstream.resume();
  }

  destroy(): void {
    this.client.destroy();
    this.upstream.destroy();
  }

  #wire(from: Socket, to: Socket, fromClient: boolean): void {
    from.on("data", (chunk: Buffer) => {
      // A chunk already in flight when the freeze came: hold it like the rest.
      if (fromClient && !this.listen && chunk.includes("LISTEN ")) {
        this.listen = true;
        this.onListen();
      }
      if (this.frozen) this.#held.push({ to, chunk });
      else to.write(chunk);
    });
    from.on("end", () => {
      if (this.frozen) this.#ended.add(from);
      else to.end();
    });
    from.on("error", () => undefined);
    from.on("close", () => {
      // A side that is gone ends the pair, unless frozen: then the other side learns nothing.
      if (this.frozen) this.#closed.add(from);
      else to.destroy();
      if (this.client.destroyed && this.upstream.destroyed) this.onGone();
    });
  }
}
