/**
 * Audit lines gathered over one turn of the event loop and handed to their
 * destination in one write. One synchronous write per line was the largest
 * single cost of a cache hit (a syscall per RPC; measured with h2load at 8 ×
 * 16 streams: 12 % of the daemon's CPU), while under load one turn answers
 * many calls. The flush runs in the same turn's check phase (setImmediate),
 * before the loop polls again; `add` returns the batch's promise, which the
 * RPC layer awaits before it answers, so a caller still never holds a token
 * whose audit line is not written (rpc/service.ts). `flush` also runs on
 * close, reopen and exit, so no line is lost on a clean stop or a crash that
 * reaches process 'exit'.
 */
export class LineBatch {
  #pending: string[] = [];
  #scheduled: NodeJS.Immediate | undefined;
  /** Settled once the pending lines are written (or their write failed and was reported): one promise a batch. */
  #written: { promise: Promise<void>; resolve: () => void } | undefined;
  readonly #onExit = (): void => this.flush();

  /** `write` gets whole lines, one call per batch, and reports its own failures. */
  constructor(private readonly write: (lines: string) => void) {
    process.once("exit", this.#onExit);
  }

  /** Queues a line; the promise settles when it is written. */
  add(line: string): Promise<void> {
    this.#pending.push(line);
    this.#scheduled ??= setImmediate(() => this.flush());
    if (this.#written === undefined) {
      let resolve!: () => void;
      const promise = new Promise<void>((r) => (resolve = r));
      this.#written = { promise, resolve };
    }
    return this.#written.promise;
  }

  flush(): void {
    if (this.#scheduled !== undefined) {
      clearImmediate(this.#scheduled);
      this.#scheduled = undefined;
    }
    if (this.#pending.length === 0) return;
    const lines = this.#pending.length === 1 ? this.#pending[0]! : this.#pending.join("");
    const written = this.#written;
    this.#pending = [];
    this.#written = undefined;
    try {
      this.write(lines);
    } finally {
      written?.resolve();
    }
  }

  /** Flushes and stops watching for exit. */
  close(): void {
    this.flush();
    process.off("exit", this.#onExit);
  }
}
