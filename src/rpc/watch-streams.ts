import { BrokerError, Reason } from "../errors/index.js";

/** The default of `watch.max_streams_per_caller`. */
export const DEFAULT_MAX_WATCH_STREAMS = 64;

/**
 * The open WatchAccessToken streams: at most `maxPerCaller` per caller
 * (keyed by the configured caller's name; anonymous Unix-socket callers share
 * one bound), counted for the `tokenbroker_watch_streams` gauge, and all
 * ended at once when the daemon starts to stop, so shutdown does not wait
 * out its grace period for streams that would never end by themselves.
 */
export class WatchStreams {
  readonly #perCaller = new Map<string, number>();
  readonly #stopping = new AbortController();
  #open = 0;
  #allEnded: (() => void) | undefined;

  constructor(readonly maxPerCaller: number = DEFAULT_MAX_WATCH_STREAMS) {}

  /** Streams open now (the gauge). */
  get open(): number {
    return this.#open;
  }

  /** Aborts when the daemon starts to stop: every stream ends with SHUTTING_DOWN. */
  get stopping(): AbortSignal {
    return this.#stopping.signal;
  }

  /**
   * Counts a new stream of `caller`; throws WATCH_LIMIT_REACHED (RESOURCE_EXHAUSTED)
   * naming the bound when the caller already holds as many as allowed. Call the
   * returned function once, when the stream ends.
   */
  acquire(caller: string): () => void {
    if (this.#stopping.signal.aborted) throw new BrokerError(Reason.SHUTTING_DOWN, "the server is stopping");
    const held = this.#perCaller.get(caller) ?? 0;
    if (held >= this.maxPerCaller) {
      throw new BrokerError(
        Reason.WATCH_LIMIT_REACHED,
        `the caller already holds ${held} watch streams, the most watch.max_streams_per_caller (${this.maxPerCaller}) allows`,
        { hint: "end a stream first, or raise watch.max_streams_per_caller" },
      );
    }
    this.#perCaller.set(caller, held + 1);
    this.#open++;
    let released = false;
    return () => {
      if (released) return;
      released = true;
      this.#open--;
      if (this.#open === 0) this.#allEnded?.();
      const left = (this.#perCaller.get(caller) ?? 1) - 1;
      if (left === 0) this.#perCaller.delete(caller);
      else this.#perCaller.set(caller, left);
    };
  }

  /** Shutdown has begun: end every stream now (each with SHUTTING_DOWN). */
  stop(): void {
    this.#stopping.abort(new BrokerError(Reason.SHUTTING_DOWN, "the server is stopping"));
  }

  /**
   * Resolves once every stream's handler has ended (after stop(), each ends
   * with SHUTTING_DOWN), then one turn of the event loop more, so each
   * stream's final status is written before the listeners close their
   * connections: on Node 24 a gRPC stream still writing its trailers when
   * the server shut down reached the client as RST_STREAM without a status.
   */
  async ended(): Promise<void> {
    if (this.#open > 0) await new Promise<void>((resolve) => (this.#allEnded = resolve));
    await new Promise<void>((resolve) => setImmediate(resolve));
  }
}
