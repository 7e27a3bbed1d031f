import { randomBytes } from "node:crypto";
import pg from "pg";

const FIRST_BACKOFF_MS = 100;
const MAX_BACKOFF_MS = 2000;
const DEFAULT_FRESHNESS_MS = 3000;
/** How long close() waits for the server to see the LISTEN connection off. */
const CLOSE_GRACE_MS = 1000;

/** The one channel every tokenbroker on a database notifies and listens on. */
export const LINKS_CHANNEL = "tokenbroker_links";

/** Where the listener says that the channel went stale and came back (pino's Logger fits). */
export interface PgListenerLog {
  warn(fields: object, message: string): void;
  info(fields: object, message: string): void;
}

export interface PgListenerOptions {
  config: pg.ClientConfig;
  /** A payload on the links channel. */
  onPayload: (payload: string) => void;
  /** Called whenever `up` changes. */
  onState?: ((up: boolean) => void) | undefined;
  /** Sends a NOTIFY through the pool: the path other hosts' commits take. */
  notify: (channel: string, payload: string) => Promise<void>;
  /** How recently a heartbeat must have come back for the channel to count as live (default 3 s). */
  freshnessMs?: number | undefined;
  log?: PgListenerLog | undefined;
}

/**
 * The dedicated LISTEN connection of a store (docs/design.md §4.5). Other
 * hosts NOTIFY on the links channel when they commit link data or release a
 * lease; this connection hears it, so the record cache drops that key and
 * waiters wake without polling.
 *
 * The cache is only as fresh as this channel, and a connection can die
 * silently (half-open: no FIN, no RST, queries on other connections still
 * fine), so the channel is proven, not assumed: every third of
 * `freshnessMs` a heartbeat NOTIFY goes out through the pool on a channel
 * of this listener's own, and must come back here. PostgreSQL delivers
 * notifications in commit order, so a heartbeat sent at T that came back
 * means every change committed before T has been heard. `epoch()` is
 * defined only while the last heartbeat that came back was sent within
 * `freshnessMs` (or LISTEN itself answered that recently): otherwise the
 * cache is off — a cached record is at most `freshnessMs` behind the
 * database — and the connection is torn down and made again. NOTIFY is not
 * durable, so each new connection is a new epoch (the cache starts over);
 * polling stays the waiters' fallback. Reconnects use backoff.
 */
export class PgListener {
  readonly #config: pg.ClientConfig;
  readonly #onPayload: (payload: string) => void;
  readonly #onState: (up: boolean) => void;
  readonly #notify: (channel: string, payload: string) => Promise<void>;
  readonly #freshnessMs: number;
  readonly #log: PgListenerLog | undefined;
  /** This listener's own heartbeat channel: other hosts never hear its heartbeats. */
  readonly #heartbeatChannel = `tokenbroker_hb_${randomBytes(6).toString("hex")}`;
  #client: pg.Client | undefined;
  /** Tears the current connection down (and schedules the next), saying why. */
  #drop: ((cause: string) => void) | undefined;
  #generation = 0;
  #listening = false;
  /** Monotonic time the newest proof of the channel was sent: a heartbeat that came back, or LISTEN. */
  #confirmedAt = 0;
  /** Heartbeats sent and not yet back: payload → monotonic send time. */
  readonly #pending = new Map<string, number>();
  #beats = 0;
  #beating = false;
  /** `up` as last reported (onState, the log). */
  #reported = false;
  /** Since when the channel has been down, once it had been up. */
  #downSince: number | undefined;
  #closed = false;
  #backoffMs = FIRST_BACKOFF_MS;
  #timer: NodeJS.Timeout | undefined;
  #ticker: NodeJS.Timeout | undefined;

  constructor(opts: PgListenerOptions) {
    this.#config = opts.config;
    this.#onPayload = opts.onPayload;
    this.#onState = opts.onState ?? (() => undefined);
    this.#notify = opts.notify;
    this.#freshnessMs = opts.freshnessMs ?? DEFAULT_FRESHNESS_MS;
    this.#log = opts.log;
    if (!Number.isSafeInteger(this.#freshnessMs) || this.#freshnessMs < 3) throw new RangeError("freshnessMs must be an integer of at least 3");
  }

  /** Connects and LISTENs; resolves once listening or after the first failure (then it keeps trying). */
  async start(): Promise<void> {
    this.#ticker ??= setInterval(() => this.#tick(), Math.floor(this.#freshnessMs / 3));
    this.#ticker.unref();
    await this.#connect();
  }

  /** Which uninterrupted, confirmed listening period this is; undefined while the channel is not known to be live. */
  epoch(): number | undefined {
    return this.#fresh() ? this.#generation : undefined;
  }

  /** Listening, and a heartbeat came back within the bound. */
  get up(): boolean {
    return this.#fresh();
  }

  async close(): Promise<void> {
    this.#closed = true;
    clearTimeout(this.#timer);
    clearInterval(this.#ticker);
    const client = this.#client;
    this.#client = undefined;
    this.#listening = false;
    this.#report("closed");
    if (client === undefined) return;
    // A graceful goodbye, but a silent path would never bring the server's answer: then the socket goes.
    let timer: NodeJS.Timeout | undefined;
    const gone = new Promise<void>((resolve) => {
      timer = setTimeout(resolve, CLOSE_GRACE_MS);
    });
    await Promise.race([client.end().catch(() => undefined), gone]);
    clearTimeout(timer);
    client.connection.stream.destroy();
  }

  #fresh(): boolean {
    return this.#listening && performance.now() - this.#confirmedAt <= this.#freshnessMs;
  }

  async #connect(): Promise<void> {
    if (this.#closed) return;
    const client = new pg.Client(this.#config);
    this.#client = client;
    let lost = false;
    const drop = (cause: string): void => {
      if (lost) return;
      lost = true;
      client.removeAllListeners("notification");
      client.end().catch(() => undefined);
      // end() waits for the server's goodbye, which a silent path never brings: the socket goes now.
      client.connection.stream.destroy();
      if (this.#client === client) {
        this.#client = undefined;
        this.#drop = undefined;
        this.#listening = false;
      }
      this.#report(cause);
      this.#schedule();
    };
    this.#drop = drop;
    client.on("error", () => drop("the LISTEN connection failed"));
    client.on("end", () => drop("the LISTEN connection ended"));
    client.on("notification", (msg) => {
      if (msg.channel === LINKS_CHANNEL) {
        if (msg.payload !== undefined) this.#onPayload(msg.payload);
      } else if (msg.channel === this.#heartbeatChannel && this.#client === client) this.#echo(msg.payload ?? "");
    });
    try {
      await client.connect();
      // One statement, so both are in place at once.
      await client.query(`LISTEN ${LINKS_CHANNEL}; LISTEN ${this.#heartbeatChannel}`);
      if (lost || this.#closed) return;
      this.#backoffMs = FIRST_BACKOFF_MS;
      this.#generation++;
      this.#listening = true;
      // LISTEN answered: whatever commits from here on is delivered here, and the cache starts over.
      this.#confirmedAt = performance.now();
      this.#report();
    } catch {
      drop("the LISTEN connection could not be made");
    }
  }

  /** Every third of the bound: the channel is judged, and the next heartbeat goes out. */
  #tick(): void {
    if (this.#closed) return;
    const now = performance.now();
    for (const [payload, sentAt] of this.#pending) if (now - sentAt > this.#freshnessMs) this.#pending.delete(payload);
    if (this.#listening && !this.#fresh()) {
      this.#drop?.(`no heartbeat came back within ${this.#freshnessMs} ms`);
      return;
    }
    if (this.#listening && !this.#beating) void this.#beat();
  }

  async #beat(): Promise<void> {
    const payload = String(++this.#beats);
    this.#pending.set(payload, performance.now());
    this.#beating = true;
    try {
      await this.#notify(this.#heartbeatChannel, payload);
    } catch {
      // The pool's faults are the pool's to report; a heartbeat that never went out simply never comes back.
    } finally {
      this.#beating = false;
    }
  }

  #echo(payload: string): void {
    const sentAt = this.#pending.get(payload);
    if (sentAt === undefined) return;
    this.#pending.delete(payload);
    this.#confirmedAt = Math.max(this.#confirmedAt, sentAt);
    this.#report();
  }

  #schedule(): void {
    if (this.#closed || this.#timer !== undefined) return;
    const delay = this.#backoffMs / 2 + (Math.random() * this.#backoffMs) / 2;
    this.#backoffMs = Math.min(this.#backoffMs * 2, MAX_BACKOFF_MS);
    this.#timer = setTimeout(() => {
      this.#timer = undefined;
      void this.#connect();
    }, delay);
    this.#timer.unref();
  }

  /** Tells onState and the log when `up` changed: once as the channel goes, once as it is back. */
  #report(cause?: string): void {
    const up = this.#fresh();
    if (up === this.#reported) return;
    this.#reported = up;
    const now = performance.now();
    if (up) {
      if (this.#downSince !== undefined) {
        this.#log?.info({ downMs: Math.round(now - this.#downSince) }, "PostgreSQL change notifications confirmed again: the record cache serves again");
      }
      this.#downSince = undefined;
    } else if (!this.#closed) {
      this.#downSince = now;
      this.#log?.warn(
        { cause: cause ?? `no heartbeat came back within ${this.#freshnessMs} ms`, freshnessMs: this.#freshnessMs },
        "PostgreSQL change notifications unconfirmed: the record cache is off (every read goes to the database) until the LISTEN connection is made again and proven",
      );
    }
    this.#onState(up);
  }
}
