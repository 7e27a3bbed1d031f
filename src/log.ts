import { pino, type DestinationStream, type Logger } from "pino";
import { REDACTED, SECRET_KEYS } from "./redact.js";

export type { Logger };


/**
 * `base` adds fixed fields to every line (the audit log's `audit: true`).
 * A destination is anything pino can write lines to.
 */
export function createLogger(level: string, destination?: DestinationStream, base: Record<string, unknown> = {}): Logger {
  const paths = SECRET_KEYS.flatMap((k) => [k, `*.${k}`, `*.*.${k}`]);
  return pino(
    {
      level,
      base: { service: "tokenbroker", ...base },
      redact: { paths, censor: REDACTED },
      timestamp: pino.stdTimeFunctions.isoTime,
    },
    destination ?? pino.destination({ dest: 1, sync: true }),
  );
}
