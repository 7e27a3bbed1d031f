import Database from "better-sqlite3";
import { StoreUnavailableError } from "../store-errors.js";

/**
 * Which SQLite failures are storage faults that may pass (docs/design.md §4),
 * by primary result code (better-sqlite3 reports extended codes such as
 * SQLITE_IOERR_WRITE or SQLITE_BUSY_RECOVERY). Lock contention is waited out
 * (asynchronously, see connection.ts); the others are reported at once,
 * because only the caller knows whether to hold on to what it was writing.
 */
const CONTENTION = new Set(["SQLITE_BUSY", "SQLITE_LOCKED", "SQLITE_PROTOCOL"]);
const RESOURCE = new Set(["SQLITE_FULL", "SQLITE_IOERR", "SQLITE_CANTOPEN", "SQLITE_NOMEM", "SQLITE_READONLY"]);

/** retry_after hints: a lock clears quickly; a full disk or failing I/O needs someone to act. */
const CONTENTION_RETRY_AFTER_MS = 1000;
const RESOURCE_RETRY_AFTER_MS = 5000;

export interface StorageFault {
  /** The full (extended) code, e.g. "SQLITE_IOERR_WRITE". */
  code: string;
  /** Lock contention: worth trying again within the busy budget. */
  contention: boolean;
}

export function storageFault(err: unknown): StorageFault | undefined {
  if (!(err instanceof Database.SqliteError) || typeof err.code !== "string") return undefined;
  const primary = err.code.split("_", 2).join("_");
  if (CONTENTION.has(primary)) return { code: err.code, contention: true };
  if (RESOURCE.has(primary)) return { code: err.code, contention: false };
  return undefined;
}

export function unavailable(operation: string, fault: StorageFault, cause: unknown): StoreUnavailableError {
  const retryAfterMs = fault.contention ? CONTENTION_RETRY_AFTER_MS : RESOURCE_RETRY_AFTER_MS;
  return new StoreUnavailableError(operation, fault.code, retryAfterMs, { cause });
}
