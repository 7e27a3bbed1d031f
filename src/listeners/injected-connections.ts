import type { Socket } from "node:net";

/**
 * The connections a listener accepted itself and injected into grpc-js
 * (Unix sockets, for SO_PEERCRED; sockets systemd passed), so its shutdown
 * can wait for them as grpc-js waits for the connections of a port it bound.
 *
 * grpc-js's tryShutdown cannot be trusted with them under Node 24: it first
 * closes each HTTP/2 server, and since Node 24 Http2Server.close() itself
 * calls session.close() on every session; grpc-js then finds each session
 * already `closed` and counts it finished at once instead of waiting for its
 * 'close' event. For a bound port the server's own close still waits (its
 * net.Server counts the connections it accepted); an injector's server
 * accepted none, so tryShutdown calls back while the injected sessions are
 * still draining: calls in flight were cut by the shutdown that followed,
 * and a stream's final status was lost with the process.
 *
 * A session closed gracefully ends its socket once its last stream is done
 * (the peer, told by GOAWAY, closes its side), so "every injected socket has
 * closed" is what tryShutdown means to wait for, on every Node.
 */
export class InjectedConnections {
  readonly #open = new Set<Socket>();
  #waiters: Array<() => void> = [];

  /** Tracks `conn` until it closes; returns it. */
  track(conn: Socket): Socket {
    if (conn.destroyed) return conn;
    this.#open.add(conn);
    conn.once("close", () => {
      this.#open.delete(conn);
      if (this.#open.size === 0) for (const wake of this.#waiters.splice(0)) wake();
    });
    return conn;
  }

  /** Resolves once every tracked connection has closed (at once if none is open). */
  closed(): Promise<void> {
    if (this.#open.size === 0) return Promise.resolve();
    return new Promise((resolve) => this.#waiters.push(resolve));
  }

  /** Cuts every one still open (the grace period is over). */
  destroyAll(): void {
    for (const conn of this.#open) conn.destroy();
  }
}
