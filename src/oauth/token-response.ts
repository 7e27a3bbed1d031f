import type { HttpExchange } from "./http.js";

/** A token-endpoint body as we understood it, before any normalisation. */
export interface ParsedTokenBody {
  /** The body as an object, from JSON or from a form-encoded body. */
  json?: Record<string, unknown>;
  /** A non-empty body that was neither (an HTML error page, plain text, a JSON array or scalar). */
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
