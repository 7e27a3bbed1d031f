import { pino, type DestinationStream, type Logger } from "pino";

export type { Logger };

/**
 * Redaction is decided here, once: any of these keys anywhere in a log
 * object is censored, whatever code logged it. Code must still never put a
 * secret in a message string.
 */
const SECRET_KEYS = [
  "access_token",
  "accessToken",
  "refresh_token",
  "refreshToken",
  "client_secret",
  "clientSecret",
  "code",
  "code_verifier",
  "codeVerifier",
  "authorization",
  "token",
  "password",
  "extra",
  "state",
  "device_code",
  "deviceCode",
  "secret",
];

/**
 * An error's code, as Node and our stores set `err.code`: a SQLSTATE
 * (`57P01`), a Node code (`ECONNREFUSED`, `ERR_…`), SQLite's (`SQLITE_BUSY`)
 * or the PostgreSQL store's own (`PG_QUERY_TIMEOUT`).
 */
const ERROR_CODE = /^(?:[0-9A-Z]{5}|E[A-Z0-9]{2,30}|ERR_[A-Z0-9_]{1,60}|SQLITE_[A-Z_]{1,40}|PG_[A-Z_]{1,40})$/;

/**
 * The censor of every redacted key. `code` is an OAuth authorization code
 * wherever it appears, except one place: directly inside an `err` object,
 * where Node's convention puts an error's code — and there only when its
 * value has the shape of one. So a store fault logged as
 * `err: { code: "57P01" }` (at the top of the line) shows its SQLSTATE, and a
 * `code` anywhere else, or an `err.code` that looks like anything but an
 * error code, stays hidden.
 */
export function censor(value: unknown, path: readonly (string | null)[]): unknown {
  // pino hands wildcard matches over as [null, "code"]: only the explicit `err.code` path is ["err", "code"].
  if (path.length === 2 && path[0] === "err" && path[1] === "code" && typeof value === "string" && ERROR_CODE.test(value)) return value;
  return "[redacted]";
}

/**
 * `base` adds fixed fields to every line (the audit log's `audit: true`).
 * A destination is anything pino can write lines to.
 */
export function createLogger(level: string, destination?: DestinationStream, base: Record<string, unknown> = {}): Logger {
  const paths = [...SECRET_KEYS.flatMap((k) => [k, `*.${k}`, `*.*.${k}`]), "err.code"];
  return pino(
    {
      level,
      base: { service: "tokenbroker", ...base },
      redact: { paths, censor },
      timestamp: pino.stdTimeFunctions.isoTime,
    },
    destination ?? pino.destination({ dest: 1, sync: true }),
  );
}
