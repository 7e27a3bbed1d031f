import type { HttpExchange } from "./http.js";

/** A token-endpoint body as we understood it, before any normalisation. */
export interface ParsedTokenBody {
  /** The body as an object, from JSON or from a form-encoded body. */
  json?: Record<string, unknown>;
  /** A non-empty body that was neither (an HTML error page, plain text). */
  nonJson: boolean;
}

function mediaType(headers: Headers): string {
  return (headers.get("content-type") ?? "").split(";")[0]!.trim().toLowerCase();
}

function isPlainObject(v: unknown): v is Record<string, unknown> {
  return typeof v === "object" && v !== null && !Array.isArray(v);
}

/**
 * JSON is tried whatever the Content-Type says (some providers label JSON as
 * text/plain); form decoding only when the provider says the body is a form,
 * which GitHub's legacy endpoint does when it ignores our Accept header.
 */
export function parseTokenBody(x: HttpExchange): ParsedTokenBody {
  const text = new TextDecoder().decode(x.body);
  if (text.trim() === "") return { nonJson: false };
  if (mediaType(x.headers) === "application/x-www-form-urlencoded") {
    return { json: Object.fromEntries(new URLSearchParams(text)), nonJson: false };
  }
  try {
    const v: unknown = JSON.parse(text);
    return isPlainObject(v) ? { json: v, nonJson: false } : { nonJson: true };
  } catch {
    return { nonJson: true };
  }
}

/** Fields oauth4webapi validates strictly where `null` or "" means "not sent". */
const OPTIONAL_FIELDS = ["refresh_token", "expires_in", "scope", "refresh_token_expires_in"] as const;

const NULL_BODY_STATUSES = new Set([101, 103, 204, 205, 304]);

/**
 * Rewrites a provider's answer into the shape oauth4webapi accepts, so its
 * strict validation judges the tokens rather than the provider's dialect:
 * - HTTP 200 with `error` and no `access_token` (GitHub) becomes a 400, so it
 *   surfaces as a ResponseBodyError instead of "invalid response".
 * - A missing `token_type` defaults to "bearer" (oauth4webapi requires it).
 * - `refresh_token: null` / "" and similar mean "not sent" (keep the old one).
 * - `id_token` is dropped: oauth4webapi would validate it against issuer
 *   metadata we synthesise rather than discover, failing every OIDC refresh,
 *   and the broker does not use it (extra keys read the raw body instead).
 * The body is always re-serialised as JSON, so form-encoded answers work too.
 */
export function normalizedTokenResponse(x: HttpExchange, parsed: ParsedTokenBody): Response {
  const headers = new Headers(x.headers);
  // The body below is already decoded and re-sized; stale framing headers would lie.
  for (const h of ["content-length", "content-encoding", "transfer-encoding"]) headers.delete(h);
  if (NULL_BODY_STATUSES.has(x.status)) return new Response(null, { status: x.status, headers });
  if (parsed.json === undefined) return new Response(x.body, { status: x.status, headers });

  const body: Record<string, unknown> = { ...parsed.json };
  let status = x.status;
  const isSuccess = status >= 200 && status <= 299;
  if (isSuccess && typeof body.error === "string" && body.error !== "" && body.access_token === undefined) {
    status = 400;
  }
  if (typeof body.access_token === "string") {
    if (body.token_type === undefined || body.token_type === null || body.token_type === "") {
      body.token_type = "bearer";
    }
    for (const f of OPTIONAL_FIELDS) if (body[f] === null || body[f] === "") delete body[f];
    delete body.id_token;
  }
  headers.set("content-type", "application/json");
  return new Response(JSON.stringify(body), { status, headers });
}

/**
 * Reads `extraTokenKeys` out of the raw body. Dotted paths walk nested
 * objects; values that are not strings are stringified (JSON for objects) so
 * the result fits the proto's map<string,string>. Absent and null are skipped.
 */
export function extractExtra(json: Record<string, unknown> | undefined, keys: readonly string[]): Record<string, string> {
  const extra: Record<string, string> = {};
  if (json === undefined) return extra;
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
