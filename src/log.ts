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
 * `base` adds fixed fields to every line (the audit log's `audit: true`).
 * A destination is anything pino can write lines to.
 */
export function createLogger(level: string, destination?: DestinationStream, base: Record<string, unknown> = {}): Logger {
  const paths = SECRET_KEYS.flatMap((k) => [k, `*.${k}`, `*.*.${k}`]);
  return pino(
    {
      level,
      base: { service: "tokenbroker", ...base },
      redact: { paths, censor: "[redacted]" },
      timestamp: pino.stdTimeFunctions.isoTime,
    },
    destination ?? pino.destination({ dest: 1, sync: true }),
  );
}
