import { OAuthError } from "./oauth-error.js";
import { classify } from "./classify.js";

/** x/oauth2 caps token responses at 1 MiB too; nothing legitimate comes close. */
export const MAX_BODY_BYTES = 1024 * 1024;

export interface TransportLimits {
  timeoutMs: number;
  /** Shutdown only: the engine must not tie a refresh to a caller's deadline. */
  signal?: AbortSignal | undefined;
  maxBodyBytes?: number | undefined;
}

export interface HttpRequest {
  method: string;
  headers: Record<string, string>;
  body?: URLSearchParams | string | undefined;
}

/** A completed exchange with the body fully read (and bounded). */
export interface HttpExchange {
  status: number;
  headers: Headers;
  body: Uint8Array;
}

class BodyTooLarge extends Error {}

/**
 * One HTTP exchange with an explicit deadline covering headers and body, a
 * body size cap, and every transport failure turned into a transient
 * OAuthError whose message names what happened but nothing that was sent.
 * Redirects are not followed: a token or validate endpoint that redirects is
 * misconfigured, and following would resend credentials elsewhere.
 */
export async function fetchBounded(
  url: string,
  req: HttpRequest,
  limits: TransportLimits,
  what: string,
): Promise<HttpExchange> {
  const timeout = AbortSignal.timeout(limits.timeoutMs);
  const signal = limits.signal ? AbortSignal.any([limits.signal, timeout]) : timeout;
  const max = limits.maxBodyBytes ?? MAX_BODY_BYTES;
  try {
    const res = await fetch(url, {
      method: req.method,
      headers: { ...req.headers, accept: "application/json" },
      body: req.body ?? null,
      redirect: "manual",
      signal,
    });
    const body = await readCapped(res, max);
    return { status: res.status, headers: res.headers, body };
  } catch (e) {
    throw transportError(e, what, limits, timeout, max);
  }
}

async function readCapped(res: Response, max: number): Promise<Uint8Array> {
  const declared = Number(res.headers.get("content-length") ?? NaN);
  if (Number.isFinite(declared) && declared > max) {
    await res.body?.cancel().catch(() => {});
    throw new BodyTooLarge();
  }
  if (res.body === null) return new Uint8Array(0);
  const reader = res.body.getReader();
  const chunks: Uint8Array[] = [];
  let total = 0;
  for (;;) {
    const { done, value } = await reader.read();
    if (done) break;
    total += value.byteLength;
    if (total > max) {
      // Cancelling closes the connection instead of draining a hostile stream.
      await reader.cancel().catch(() => {});
      throw new BodyTooLarge();
    }
    chunks.push(value);
  }
  return Buffer.concat(chunks, total);
}

function transportError(
  e: unknown,
  what: string,
  limits: TransportLimits,
  timeout: AbortSignal,
  max: number,
): OAuthError {
  if (e instanceof OAuthError) return e;
  const kind = classify({ networkError: true }).kind;
  let message: string;
  if (e instanceof BodyTooLarge) {
    message = `${what} response exceeded ${max} bytes`;
  } else if (timeout.aborted) {
    message = `${what} timed out after ${limits.timeoutMs} ms`;
  } else if (limits.signal?.aborted) {
    message = `${what} request aborted`;
  } else {
    message = `${what} unreachable (${networkCode(e)})`;
  }
  return new OAuthError({ kind, message });
}

/** undici hides the socket error code in `cause`; the message itself may hold the URL. */
function networkCode(e: unknown): string {
  const cause = (e as { cause?: { code?: unknown } } | null)?.cause;
  if (cause && typeof cause.code === "string") return cause.code;
  if (e instanceof Error && e.name !== "TypeError") return e.name;
  return "network error";
}
