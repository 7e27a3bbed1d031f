import pg from "pg";
import { StoreUnavailableError } from "../store-errors.js";

/**
 * Which PostgreSQL failures are storage faults that may pass (docs/design.md
 * §4.5): the server cannot be reached or went away, is starting or shutting
 * down, is out of connections, disk or memory, or a statement ran into
 * lock_timeout / statement_timeout or a serialization conflict, or the
 * server sent nothing back before the client-side deadline. Everything
 * else (a constraint, a syntax error, DecryptError, a bad argument) passes
 * through unchanged.
 */

/** SQLSTATE classes: 08 connection exception, 53 insufficient resources, 58 system error. */
const FAULT_CLASSES = new Set(["08", "53", "58"]);
/**
 * 57P01-03 shutdown / crash / cannot connect now, 57014 a statement timeout,
 * 55P03 lock_timeout, 40001 / 40P01 serialization / deadlock, 25006 a
 * read-only server (a standby after failover), XX001/XX002 corrupted data or
 * index: worth telling the operator, not the caller's fault.
 */
const FAULT_CODES = new Set(["57P01", "57P02", "57P03", "57014", "55P03", "40001", "40P01", "25006"]);
/** Node socket errors of a connection that broke or never came up. */
const SOCKET_CODES = new Set(["ECONNREFUSED", "ECONNRESET", "ETIMEDOUT", "EPIPE", "ENOTFOUND", "EHOSTUNREACH", "ENETUNREACH", "EAI_AGAIN"]);
/** pg's own words for a connection that ended or could not be had in time (no code). */
const DRIVER_MESSAGES = [/^Connection terminated/, /^timeout exceeded when trying to connect/, /^Client has encountered a connection error/, /Connection terminated unexpectedly/];

/** pg's error when `query_timeout` passed without an answer: the connection went silent. */
const QUERY_TIMEOUT_MESSAGE = "Query read timeout";

/** A lock or a timeout clears quickly; an unreachable server needs a moment, or someone. */
const CONTENTION_RETRY_AFTER_MS = 1000;
const UNREACHABLE_RETRY_AFTER_MS = 2000;

export interface PgFault {
  /** SQLSTATE, a socket code, or PG_CONNECTION for pg's code-less connection errors. */
  code: string;
  /** The server could not be reached (as opposed to answering with a fault). */
  unreachable: boolean;
}

export function pgFault(err: unknown): PgFault | undefined {
  if (err instanceof pg.DatabaseError) {
    const code = err.code ?? "";
    if (FAULT_CODES.has(code)) return { code, unreachable: code.startsWith("57P") };
    if (FAULT_CLASSES.has(code.slice(0, 2))) return { code, unreachable: code.startsWith("08") };
    return undefined;
  }
  if (!(err instanceof Error)) return undefined;
  const code = (err as NodeJS.ErrnoException).code;
  if (typeof code === "string" && SOCKET_CODES.has(code)) return { code, unreachable: true };
  if (isQueryTimeout(err)) return { code: "PG_QUERY_TIMEOUT", unreachable: true };
  if (DRIVER_MESSAGES.some((re) => re.test(err.message))) return { code: "PG_CONNECTION", unreachable: true };
  return undefined;
}

/**
 * The client-side deadline (pg's `query_timeout`) passed: the server sent
 * nothing back, and the statement is still in flight on that connection,
 * which is of no further use — it must be destroyed, not pooled again
 * (connection.ts).
 */
export function isQueryTimeout(err: unknown): boolean {
  return err instanceof Error && err.message === QUERY_TIMEOUT_MESSAGE;
}

export function unavailable(operation: string, fault: PgFault, cause: unknown): StoreUnavailableError {
  const retryAfterMs = fault.unreachable ? UNREACHABLE_RETRY_AFTER_MS : CONTENTION_RETRY_AFTER_MS;
  return new StoreUnavailableError(operation, fault.code, retryAfterMs, { cause });
}

/** SQLSTATEs and socket codes an operator meets when the database goes away, in words. */
const FAULT_WORDS: Readonly<Record<string, string>> = {
  ECONNREFUSED: "connection refused",
  ECONNRESET: "connection reset",
  ETIMEDOUT: "connection timed out",
  EPIPE: "connection broken",
  ENOTFOUND: "host not found",
  EAI_AGAIN: "host name lookup failed (temporarily)",
  EHOSTUNREACH: "host unreachable",
  ENETUNREACH: "network unreachable",
  PG_QUERY_TIMEOUT: "no answer within query_timeout",
  PG_CONNECTION: "the connection ended or could not be made in time",
  "28P01": "password authentication failed",
  "28000": "authentication failed (invalid authorization specification)",
  "3D000": "the database does not exist",
  "57P01": "the server is shutting down (admin_shutdown)",
  "57P02": "the server crashed (crash_shutdown)",
  "57P03": "the server is not accepting connections (starting up or in recovery)",
  "53300": "too many connections",
  "08006": "connection failure",
  "08001": "the client could not establish the connection",
  "08004": "the server rejected the connection",
};

/** A fault's code in words, with the code itself: "connection refused (ECONNREFUSED)", "password authentication failed (SQLSTATE 28P01)". */
export function describePgFault(code: string): string {
  // Node's socket codes start with E (EPIPE has five letters too); no SQLSTATE class does.
  const sqlstate = /^[0-9A-Z]{5}$/.test(code) && !code.startsWith("E");
  const words = FAULT_WORDS[code] ?? (code.startsWith("08") ? "connection exception" : code.startsWith("28") ? "authentication failed" : code.startsWith("53") ? "insufficient resources" : "unreachable");
  return `${words} (${sqlstate ? `SQLSTATE ${code}` : code})`;
}
