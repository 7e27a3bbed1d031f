import pg from "pg";

const FIRST_BACKOFF_MS = 100;
const MAX_BACKOFF_MS = 2000;

/** The one channel every tokenbroker on a database notifies and listens on. */
export const LINKS_CHANNEL = "tokenbroker_links";

/**
 * The dedicated LISTEN connection of a store (docs/design.md §4.5). Other
 * hosts NOTIFY on the links channel when they commit link data or release a
 * lease; this connection hears it, so the record cache drops that key and
 * waiters wake without polling. NOTIFY is not durable: whatever is sent
 * while this connection is down is lost, so while it is down `epoch()` is
 * undefined (the cache is off) and after each reconnect it is a new number
 * (the cache starts over) — and polling stays the waiters' fallback. It
 * reconnects by itself, with backoff, and LISTENs again.
 */
export class PgListener {
  readonly #config: pg.ClientConfig;
  readonly #onPayload: (payload: string) => void;
  readonly #onState: (up: boolean) => void;
  #client: pg.Client | undefined;
  #generation = 0;
  #up = false;
  #closed = false;
  #backoffMs = FIRST_BACKOFF_MS;
  #timer: NodeJS.Timeout | undefined;

  constructor(config: pg.ClientConfig, onPayload: (payload: string) => void, onState: (up: boolean) => void = () => undefined) {
    this.#config = config;
    this.#onPayload = onPayload;
    this.#onState = onState;
  }

  /** Connects and LISTENs; resolves once listening or after the first failure (then it keeps trying). */
  async start(): Promise<void> {
    await this.#connect();
  }

  /** Which uninterrupted listening period this is; undefined while not listening. */
  epoch(): number | undefined {
    return this.#up ? this.#generation : undefined;
  }

  get up(): boolean {
    return this.#up;
  }

  async close(): Promise<void> {
    this.#closed = true;
    clearTimeout(this.#timer);
    const client = this.#client;
    this.#client = undefined;
    this.#setUp(false);
    await client?.end().catch(() => undefined);
  }

  async #connect(): Promise<void> {
    if (this.#closed) return;
    const client = new pg.Client(this.#config);
    this.#client = client;
    let lost = false;
    const onLost = (): void => {
      if (lost) return;
      lost = true;
      client.removeAllListeners("notification");
      client.end().catch(() => undefined);
      if (this.#client === client) this.#client = undefined;
      this.#setUp(false);
      this.#schedule();
    };
    client.on("error", onLost);
    client.on("end", onLost);
    client.on("notification", (msg) => {
      if (msg.channel === LINKS_CHANNEL && msg.payload !== undefined) this.#onPayload(msg.payload);
    });
    try {
      await client.connect();
      await client.query(`LISTEN ${LINKS_CHANNEL}`);
      if (lost || this.#closed) return;
      this.#backoffMs = FIRST_BACKOFF_MS;
      this.#generation++;
      this.#setUp(true);
    } catch {
      onLost();
    }
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

  #setUp(up: boolean): void {
    if (this.#up === up) return;
    this.#up = up;
    this.#onState(up);
  }
}
