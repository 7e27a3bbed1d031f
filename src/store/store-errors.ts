/**
 * The store cannot serve now, for a reason that may pass: the database is
 * busy (another connection holds the write lock past the busy budget), full,
 * read-only, out of memory, or failing I/O. Every store method turns such
 * faults into this error; anything else (a constraint, misuse, DecryptError,
 * a TypeError for a bad argument) passes through unchanged. Callers map it to
 * UNAVAILABLE / STORE_UNAVAILABLE with `retryAfterMs`.
 *
 * The message names the operation and the code, never a value.
 */
export class StoreUnavailableError extends Error {
  override readonly name = "StoreUnavailableError";

  constructor(
    /** The store operation that failed, e.g. "links.commitRefresh". */
    readonly operation: string,
    /** The storage's own code, e.g. "SQLITE_BUSY", "SQLITE_FULL", "SQLITE_IOERR_WRITE". */
    readonly code: string,
    /** A hint for callers: when trying again may help. */
    readonly retryAfterMs: number,
    options?: ErrorOptions,
  ) {
    super(`the store cannot serve ${operation} now (${code})`, options);
  }
}
