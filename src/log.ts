import { pino, type DestinationStream, type Logger } from "pino";
import { SECRET_KEYS, censor } from "./redact.js";

export type { Logger };


/**
 * How log lines are written: `json`, one JSON object a line (for any log
 * shipper); `journald`, the same line behind sd-daemon(3)'s `<N>` syslog
 * priority prefix, which journald strips into the entry's PRIORITY field
 * (`journalctl -p warning` then shows warnings and worse).
 */
export type LogFormat = "json" | "journald";

/** The syslog priority (sd-daemon(3), RFC 5424) of a pino level number. */
export function syslogPriority(pinoLevel: number): number {
  if (pinoLevel >= 60) return 2; // fatal: LOG_CRIT
  if (pinoLevel >= 50) return 3; // error: LOG_ERR
  if (pinoLevel >= 40) return 4; // warn: LOG_WARNING
  if (pinoLevel >= 30) return 6; // info: LOG_INFO
  return 7; // debug, trace: LOG_DEBUG
}

/**
 * A JSON log line (pino writes `{"level":N,` first) behind its `<N>` prefix;
 * a line without a level gets LOG_INFO, journald's default.
 */
export function withPriorityPrefix(line: string): string {
  const level = /^\{"level":(\d+)/.exec(line)?.[1];
  return `<${level === undefined ? 6 : syslogPriority(Number(level))}>${line}`;
}

/**
 * `base` adds fixed fields to every line (the audit log's `audit: true`).
 * A destination is anything pino can write lines to.
 */
export function createLogger(level: string, destination?: DestinationStream, base: Record<string, unknown> = {}, format: LogFormat = "json"): Logger {
  const paths = [...SECRET_KEYS.flatMap((k) => [k, `*.${k}`, `*.*.${k}`]), "err.code"];
  return pino(
    {
      level,
      base: { service: "tokenbroker", ...base },
      redact: { paths, censor },
      timestamp: pino.stdTimeFunctions.isoTime,
      ...(format === "journald" ? { hooks: { streamWrite: withPriorityPrefix } } : {}),
    },
    destination ?? pino.destination({ dest: 1, sync: true }),
  );
}
