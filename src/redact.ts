/*
 * Redaction, decided in one place: the keys the logger censors in every log
 * object, secrets and token shapes cut out of text (OAuth error bodies,
 * provider messages), and URLs shown with their password replaced.
 */

/**
 * The logger's redaction (src/log.ts): any of these keys anywhere in a log
 * object is censored, whatever code logged it. Code must still never put a
 * secret in a message string.
 */
export const SECRET_KEYS = [
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

export const REDACTED = "[redacted]";

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
  return REDACTED;
}


/**
 * Secrets shorter than this are not replaced: a one-letter "secret" would
 * shred the text and cannot be a real credential anyway.
 */
const MIN_SECRET_LENGTH = 4;

/**
 * Shapes that are tokens whether or not we know the value: provider-prefixed
 * tokens, JWTs, credentials after an auth scheme or a well-known field name.
 * Ordered so the specific patterns run before the generic opaque-run one.
 */
const TOKEN_SHAPES: ReadonlyArray<[RegExp, string]> = [
  [/\b(?:gh[opusr]_|github_pat_)[A-Za-z0-9_]+/g, REDACTED],
  [/\bxox[a-z]-[A-Za-z0-9-]+/g, REDACTED],
  [/\beyJ[A-Za-z0-9_-]*\.[A-Za-z0-9_-]+\.[A-Za-z0-9_-]*/g, REDACTED],
  [/\b(bearer|basic)\s+[A-Za-z0-9._~+/=-]+/gi, `$1 ${REDACTED}`],
  [
    /\b((?:access|refresh|id)_token|client_secret|code_verifier|password|secret)(["']?\s*[:=]\s*["']?)[^\s"'&,;]+/gi,
    `$1$2${REDACTED}`,
  ],
];

/**
 * Long runs of token alphabet that mix letters and digits. Prose and error
 * codes ("bad_refresh_token") do not look like this; opaque tokens do.
 */
const OPAQUE_RUN = /[A-Za-z0-9_\-.~+/]{24,}={0,2}/g;

function looksOpaque(run: string): boolean {
  return /[0-9]/.test(run) && /[A-Za-z]/.test(run);
}

/**
 * Removes the given secret values (also in their URL-encoded form, as they
 * appear when a provider echoes a form body) and anything token-shaped.
 */
export function redactSecrets(text: string, secrets: readonly string[] = []): string {
  let out = text;
  const known = secrets
    .filter((s) => s.length >= MIN_SECRET_LENGTH)
    .flatMap((s) => [s, encodeURIComponent(s), new URLSearchParams({ s }).toString().slice(2)])
    // Longest first, so a secret containing another is removed whole.
    .sort((a, b) => b.length - a.length);
  for (const s of known) out = out.split(s).join(REDACTED);
  for (const [pattern, replacement] of TOKEN_SHAPES) out = out.replace(pattern, replacement);
  return out.replace(OPAQUE_RUN, (run) => (looksOpaque(run) ? REDACTED : run));
}

/**
 * Cuts `text` to at most `maxBytes` of UTF-8, never inside a code point, and
 * marks the cut with an ellipsis so a reader knows the reason is incomplete.
 */
export function truncateUtf8(text: string, maxBytes: number): string {
  if (Buffer.byteLength(text, "utf8") <= maxBytes) return text;
  const ellipsis = "…";
  const budget = maxBytes - Buffer.byteLength(ellipsis, "utf8");
  let out = "";
  let used = 0;
  for (const ch of text) {
    const n = Buffer.byteLength(ch, "utf8");
    if (used + n > budget) break;
    out += ch;
    used += n;
  }
  return budget >= 0 ? out + ellipsis : "";
}

/**
 * A URL fit for a message (a database URL, say): the password replaced,
 * whatever else it holds (a `password=` query parameter included); an
 * unparsable one is not shown at all.
 */
export function redactUrl(url: string): string {
  if (!URL.canParse(url)) return "<unparsable URL>";
  const u = new URL(url);
  if (u.password !== "") u.password = "redacted";
  for (const key of [...u.searchParams.keys()]) if (/pass/i.test(key)) u.searchParams.set(key, "redacted");
  return u.toString();
}
