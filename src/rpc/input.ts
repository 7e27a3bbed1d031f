import type { Duration, Timestamp } from "@bufbuild/protobuf/wkt";
import { BrokerError } from "../errors/index.js";

/**
 * Pure checks on request fields. Each failure is INVALID_ARGUMENT naming the
 * field, raised before anything is read or written.
 */
export const MAX_ID_BYTES = 256;
export const MAX_TOKEN_BYTES = 16_384;
export const MAX_EXTRA_ENTRIES = 64;
const MAX_MIN_VALID_MS = 24 * 3_600_000;
/** A URL a caller passes: MatchProvider's url, StartLink's redirect_after. */
export const MAX_URL_BYTES = 2048;
/** An OAuth state or a device session id, as tokenbroker issues them (far shorter). */
export const MAX_STATE_BYTES = 512;
/** An authorization code as a provider issues it. */
export const MAX_CODE_BYTES = 4096;
/** ObtainAccessTokens' provider_ids. */
export const MAX_PROVIDERS_PER_CALL = 64;
/** ListLinks' page_size (larger asks get this many). */
export const MAX_PAGE = 1000;
/** Key rotation's batch_size. */
export const MAX_BATCH = 10_000;

/** At most `max` bytes of UTF-8; `tooLong` is the message when longer (default: "must be at most N bytes"). */
export function limitBytes(field: string, value: string, max: number, tooLong = `must be at most ${max} bytes`): string {
  if (Buffer.byteLength(value) > max) throw BrokerError.invalidArgument(field, tooLong);
  return value;
}

export function requireId(field: string, value: string): string {
  if (value === "") throw BrokerError.invalidArgument(field, "must not be empty");
  if (Buffer.byteLength(value, "utf8") > MAX_ID_BYTES) throw BrokerError.invalidArgument(field, `must be at most ${MAX_ID_BYTES} bytes`);
  if (value.includes("\u0000")) throw BrokerError.invalidArgument(field, "must not contain NUL");
  return value;
}

export function optionalId(field: string, value: string): string | undefined {
  return value === "" ? undefined : requireId(field, value);
}

export function requireSecret(field: string, value: string, required: boolean): string {
  if (required && value === "") throw BrokerError.invalidArgument(field, "must not be empty");
  if (Buffer.byteLength(value, "utf8") > MAX_TOKEN_BYTES) throw BrokerError.invalidArgument(field, `must be at most ${MAX_TOKEN_BYTES} bytes`);
  return value;
}

const MAX_TOKEN_TYPE_BYTES = 64;
// token68-ish (RFC 7235): what an Authorization scheme may look like, so a
// stored type can go into a header or a log line as is.
const TOKEN_TYPE = /^[A-Za-z0-9\-._~+/]*$/;

/** An optional token type ("" = unset): at most 64 bytes of letters, digits and `-._~+/`. */
export function tokenType(field: string, value: string): string {
  if (value.length > MAX_TOKEN_TYPE_BYTES) throw BrokerError.invalidArgument(field, `must be at most ${MAX_TOKEN_TYPE_BYTES} bytes`);
  if (!TOKEN_TYPE.test(value)) throw BrokerError.invalidArgument(field, "only letters, digits, hyphen, dot, underscore, tilde, plus and slash");
  return value;
}

export function durationMs(field: string, d: Duration | undefined, fallbackMs: number): number {
  if (d === undefined) return fallbackMs;
  if (d.seconds < 0n || d.nanos < 0) throw BrokerError.invalidArgument(field, "must not be negative");
  if (d.nanos > 999_999_999) throw BrokerError.invalidArgument(field, "nanos out of range");
  const ms = Number(d.seconds) * 1000 + Math.floor(d.nanos / 1_000_000);
  if (ms > MAX_MIN_VALID_MS) throw BrokerError.invalidArgument(field, "must be at most 24h");
  return ms;
}

export function timestampMs(field: string, t: Timestamp | undefined): number | null {
  if (t === undefined) return null;
  if (t.nanos < 0 || t.nanos > 999_999_999) throw BrokerError.invalidArgument(field, "nanos out of range");
  const ms = Number(t.seconds) * 1000 + Math.floor(t.nanos / 1_000_000);
  if (!Number.isSafeInteger(ms) || ms <= 0) throw BrokerError.invalidArgument(field, "out of range");
  return ms;
}

const MAX_ACCOUNT_BYTES = 256;
const MAX_GRANTED_SCOPES = 64;

/** An account name as ImportLink takes it: empty is unknown (null). */
export function accountName(field: string, value: string): string | null {
  if (value === "") return null;
  if (Buffer.byteLength(value) > MAX_ACCOUNT_BYTES) throw BrokerError.invalidArgument(field, `must be at most ${MAX_ACCOUNT_BYTES} bytes`);
  if (/[\u0000-\u001f\u007f]/.test(value)) throw BrokerError.invalidArgument(field, "must not contain control characters");
  return value;
}

/** Granted scopes as ImportLink takes them: none given is unknown (null). */
export function grantedScopes(field: string, scopes: string[]): string[] | null {
  if (scopes.length === 0) return null;
  if (scopes.length > MAX_GRANTED_SCOPES) throw BrokerError.invalidArgument(field, `at most ${MAX_GRANTED_SCOPES} scopes`);
  for (const s of scopes) {
    if (s === "" || Buffer.byteLength(s) > MAX_ID_BYTES) throw BrokerError.invalidArgument(field, "each scope must be 1 to 256 bytes");
    if (/[\s\u0000-\u001f\u007f]/.test(s)) throw BrokerError.invalidArgument(field, "a scope must not contain spaces or control characters");
  }
  return [...new Set(scopes)];
}

export function extraMap(field: string, extra: Record<string, string>): Record<string, string> {
  const entries = Object.entries(extra);
  if (entries.length > MAX_EXTRA_ENTRIES) throw BrokerError.invalidArgument(field, `at most ${MAX_EXTRA_ENTRIES} entries`);
  for (const [k, v] of entries) {
    if (k === "" || Buffer.byteLength(k) > MAX_ID_BYTES) throw BrokerError.invalidArgument(field, "keys must be 1 to 256 bytes");
    if (Buffer.byteLength(v) > MAX_TOKEN_BYTES) throw BrokerError.invalidArgument(field, `values must be at most ${MAX_TOKEN_BYTES} bytes`);
  }
  return Object.fromEntries(entries);
}
