import type { OAuthProvider } from "./provider.js";

/**
 * A successful token response in the broker's vocabulary. Built only by
 * normalizeTokenResponse, so every field obeys docs/design.md §3.1.
 */
export interface TokenSet {
  /** "" when the provider sent no usable access token (then refreshToken is set). */
  accessToken: string;
  /** Lower-cased; "bearer" when the provider sent none or an odd one. */
  tokenType: string;
  /** Absent when the provider did not rotate: keep the stored one (docs/design.md §3 invariant 3). */
  refreshToken?: string;
  /** Whole seconds, 1 to MAX_TOKEN_LIFETIME_SEC; absent means the token does not expire. */
  expiresInSec?: number;
  /** The configured extraTokenKeys found in the response. */
  extra: Record<string, string>;
  scope?: string;
  /** What was normalised, by field and kind, never by value: safe to log. */
  notes: string[];
}

export type NormalizeProvider = Pick<OAuthProvider, "extraTokenKeys" | "defaultTokenLifetimeSec">;

/** The longest lifetime believed; also the most `default_token_lifetime` may say. */
export const MAX_TOKEN_LIFETIME_SEC = 10 * 365 * 24 * 3600;

/**
 * The lifetime assumed when the provider sent an `expires_in` that means
 * nothing (0, negative, not a number) and no default is configured. Sending
 * the field at all says the token expires, so "does not expire" would hand
 * out a dead token for ever; an hour is the most common lifetime, and if the
 * token dies sooner, the caller's 401 is no worse than for any unknown
 * lifetime, while a shorter guess would spend a single-use refresh token on
 * every call.
 */
export const FALLBACK_TOKEN_LIFETIME_SEC = 3600;

/** A type name, not prose: Bearer, DPoP, Slack's "user"/"bot", JFrog's "access_token". */
const TOKEN_TYPE_NAME = /^[A-Za-z0-9][A-Za-z0-9_.+-]{0,31}$/;

/** A decimal number as form-encoded answers and some JSON answers spell it. */
const NUMERIC_STRING = /^[+-]?(?:\d+(?:\.\d*)?|\.\d+)(?:[eE][+-]?\d+)?$/;

/**
 * An OAuth error answered with a 2xx (GitHub's and Slack's dialect): a
 * non-empty string `error` and no usable access token. Such a body is an
 * error even if it carries other members; every other 2xx object is a
 * success.
 */
export function isErrorAnswer(json: Record<string, unknown> | undefined): boolean {
  if (json === undefined) return false;
  return typeof json.error === "string" && json.error !== "" && accessTokenOf(json.access_token, []) === "";
}

/**
 * Pure and total: a parsed 2xx body (JSON, or a form-encoded body as an
 * object of strings) becomes a TokenSet by the rules of docs/design.md §3.1.
 * It never throws and never yields NaN, Infinity or a fractional lifetime;
 * whether the result is usable (an access or a refresh token) is the
 * caller's judgement.
 */
export function normalizeTokenResponse(json: Record<string, unknown>, p: NormalizeProvider): TokenSet {
  const notes: string[] = [];
  const set: TokenSet = {
    accessToken: accessTokenOf(json.access_token, notes),
    tokenType: tokenTypeOf(json.token_type, notes),
    extra: extractExtra(json, p.extraTokenKeys),
    notes,
  };
  const refreshToken = refreshTokenOf(json.refresh_token, notes);
  if (refreshToken !== undefined) set.refreshToken = refreshToken;
  const expiresInSec = lifetimeOf(json.expires_in, defaultLifetime(p.defaultTokenLifetimeSec), notes);
  if (expiresInSec !== undefined) set.expiresInSec = expiresInSec;
  const scope = json.scope;
  if (typeof scope === "string" && scope !== "") set.scope = scope;
  else if (scope !== undefined && scope !== null && typeof scope !== "string") notes.push("scope not a string; ignored");
  return set;
}

function isEmpty(v: unknown): boolean {
  return v === null || v === "";
}

/** An integer in plain decimal digits (String(1e21) would say "1e+21"). */
function decimalString(n: number): string {
  return Number.isInteger(n) ? BigInt(n).toString() : String(n);
}

function accessTokenOf(v: unknown, notes: string[]): string {
  if (typeof v === "string" && v !== "") return v;
  if (typeof v === "number" && Number.isFinite(v)) {
    notes.push("access_token a number; used its decimal string");
    return decimalString(v);
  }
  if (v === undefined) notes.push("access_token absent; no usable access token");
  else if (isEmpty(v)) notes.push("access_token empty; no usable access token");
  else notes.push("access_token not a string; no usable access token");
  return "";
}

function refreshTokenOf(v: unknown, notes: string[]): string | undefined {
  if (typeof v === "string" && v !== "") return v;
  if (typeof v === "number" && Number.isFinite(v)) {
    notes.push("refresh_token a number; used its decimal string");
    return decimalString(v);
  }
  if (isEmpty(v)) notes.push("refresh_token empty; kept the stored one");
  else if (v !== undefined) notes.push("refresh_token not a string; kept the stored one");
  return undefined;
}

function tokenTypeOf(v: unknown, notes: string[]): string {
  if (typeof v === "string" && TOKEN_TYPE_NAME.test(v)) return v.toLowerCase();
  if (v === undefined) notes.push("token_type absent; used bearer");
  else if (isEmpty(v)) notes.push("token_type empty; used bearer");
  else if (typeof v !== "string") notes.push("token_type not a string; used bearer");
  else notes.push("token_type not a short type name; used bearer");
  return "bearer";
}

/** The configured default as a whole number of seconds in range, or undefined. */
function defaultLifetime(sec: number | undefined): number | undefined {
  if (sec === undefined || !Number.isFinite(sec) || sec <= 0) return undefined;
  return Math.min(Math.ceil(sec), MAX_TOKEN_LIFETIME_SEC);
}

function lifetimeOf(v: unknown, configured: number | undefined, notes: string[]): number | undefined {
  // Absent is the RFC's "not said": the configured default, else "does not expire".
  if (v === undefined) return configured;
  if (isEmpty(v)) {
    notes.push(configured === undefined ? "expires_in empty; treated as absent" : "expires_in empty; used default_token_lifetime");
    return configured;
  }
  // Present but meaningless: the provider meant the token to expire.
  const meaningless = (kind: string): number => {
    notes.push(`expires_in ${kind}; used ${configured === undefined ? `${FALLBACK_TOKEN_LIFETIME_SEC} s` : "default_token_lifetime"}`);
    return configured ?? FALLBACK_TOKEN_LIFETIME_SEC;
  };
  let n: number;
  if (typeof v === "number") {
    n = v;
  } else if (typeof v === "string" && NUMERIC_STRING.test(v.trim())) {
    // Ordinary, not noted: form-encoded answers have only strings, and some JSON ones send "3599".
    n = Number(v.trim());
  } else {
    return meaningless("not a number");
  }
  if (!Number.isFinite(n)) return meaningless("not finite");
  if (n === 0) return meaningless("zero");
  if (n < 0) return meaningless("negative");
  let sec = n;
  if (!Number.isInteger(sec)) {
    notes.push("expires_in fractional; rounded up to whole seconds");
    sec = Math.ceil(sec);
  }
  if (sec > MAX_TOKEN_LIFETIME_SEC) {
    notes.push("expires_in above 10 years; capped at 10 years");
    sec = MAX_TOKEN_LIFETIME_SEC;
  }
  return sec;
}

function isPlainObject(v: unknown): v is Record<string, unknown> {
  return typeof v === "object" && v !== null && !Array.isArray(v);
}

/**
 * Reads `extraTokenKeys` out of the raw body. Dotted paths walk nested
 * objects; values that are not strings are stringified (JSON for objects) so
 * the result fits the proto's map<string,string>. Absent and null are skipped.
 */
function extractExtra(json: Record<string, unknown>, keys: readonly string[]): Record<string, string> {
  const extra: Record<string, string> = {};
  for (const key of keys) {
    // A top-level key that itself contains a dot is taken literally first.
    let v: unknown = Object.hasOwn(json, key) ? json[key] : json;
    if (v === json) {
      for (const part of key.split(".")) {
        v = isPlainObject(v) && Object.hasOwn(v, part) ? v[part] : undefined;
      }
    }
    if (v === undefined || v === null) continue;
    extra[key] = typeof v === "string" ? v : typeof v === "object" ? JSON.stringify(v) : String(v);
  }
  return extra;
}
