import { classify, isSuccessStatus } from "./classify.js";
import { Deadline } from "./deadline.js";
import { OAuthError, type SentState } from "./oauth-error.js";

/** x/oauth2 caps token responses at 1 MiB too; nothing legitimate comes close. */
const MAX_BODY_BYTES = 1024 * 1024;

export interface TransportLimits {
  /** How long to wait for the provider's answer (status line and headers). */
  timeoutMs: number;
  /** How long the body may take once the headers are in; default timeoutMs, counted afresh. */
  bodyTimeoutMs?: number | undefined;
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

/** What was known when a transport failure happened. */
interface Progress {
  /** Set once the status line and headers have arrived. */
  status?: number;
  deadline: Deadline;
}

/**
 * One HTTP exchange with a body size cap, and every transport failure
 * turned into an OAuthError whose message names what happened but nothing
 * that was sent. Two bounds, each expiring only after a grace that lets
 * pending I/O be read (deadline.ts): `timeoutMs` for the answer to start,
 * then `bodyTimeoutMs` for its body. A failure after a 2xx status is
 * classified unusable_answer, never transient: the provider accepted the
 * request. Redirects are not followed: a token or validate endpoint that
 * redirects is misconfigured, and following would resend credentials
 * elsewhere.
 */
export async function fetchBounded(
  url: string,
  req: HttpRequest,
  limits: TransportLimits,
  what: string,
): Promise<HttpExchange> {
  const abort = new AbortController();
  const signal = limits.signal ? AbortSignal.any([limits.signal, abort.signal]) : abort.signal;
  const progress: Progress = { deadline: new Deadline(() => abort.abort()) };
  const max = limits.maxBodyBytes ?? MAX_BODY_BYTES;
  progress.deadline.start(limits.timeoutMs);
  try {
    const res = await fetch(url, {
      method: req.method,
      headers: { ...req.headers, accept: "application/json" },
      body: req.body ?? null,
      redirect: "manual",
      signal,
    });
    progress.status = res.status;
    progress.deadline.start(bodyTimeout(limits));
    const body = await readCapped(res, max);
    return { status: res.status, headers: res.headers, body };
  } catch (e) {
    throw transportError(e, what, limits, progress, max);
  } finally {
    progress.deadline.cancel();
  }
}

function bodyTimeout(limits: TransportLimits): number {
  return limits.bodyTimeoutMs ?? limits.timeoutMs;
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

/**
 * Socket errors that happen before a request can have left: the provider
 * cannot have seen it. Anything else (a reset, a timeout) may come after
 * the request was written.
 */
const NOT_SENT_CODES: ReadonlySet<string> = new Set(["ECONNREFUSED", "ENOTFOUND", "EAI_AGAIN", "UND_ERR_CONNECT_TIMEOUT"]);

function transportError(e: unknown, what: string, limits: TransportLimits, progress: Progress, max: number): OAuthError {
  if (e instanceof OAuthError) return e;
  const { status } = progress;
  const kind = classify({ networkError: true, httpStatus: status }).kind;
  const code = networkCode(e);
  let sent: SentState = isSuccessStatus(status) ? "unknown" : "answered";
  let message: string;
  if (status === undefined) {
    sent = NOT_SENT_CODES.has(code) ? "not_sent" : "unknown";
    if (progress.deadline.expired) message = `${what} timed out after ${limits.timeoutMs} ms`;
    else if (limits.signal?.aborted) message = `${what} request aborted`;
    else message = `${what} unreachable (${code})`;
  } else {
    const body = `${what} answered HTTP ${status} but its body`;
    if (e instanceof BodyTooLarge) message = `${body} exceeded ${max} bytes`;
    else if (progress.deadline.expired) message = `${body} did not arrive within ${bodyTimeout(limits)} ms`;
    else if (limits.signal?.aborted) message = `${body} was aborted`;
    else message = `${body} was cut off (${code})`;
  }
  return new OAuthError({ kind, sent, message, status });
}

/** undici hides the socket error code in `cause`; the message itself may hold the URL. */
function networkCode(e: unknown): string {
  const cause = (e as { cause?: { code?: unknown } } | null)?.cause;
  if (cause && typeof cause.code === "string") return cause.code;
  if (e instanceof Error && e.name !== "TypeError") return e.name;
  return "network error";
}
