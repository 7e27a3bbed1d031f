/** The faults a test can queue for the fake provider's token and validate endpoints. */
import type { IssuedTokens } from "./fake-provider.js";

/**
 * A rotating 2xx whose body is odd but which the provider meant: the refresh
 * IS processed (the presented refresh token is spent and a new pair minted, as
 * for any success) and `oddSuccess(issued)` is the body, so a test can send
 * `expires_in: "abc"` next to the real new refresh token. A refresh the
 * provider refuses (a spent or unknown token) is answered with its usual error.
 */
export interface OddSuccessFault {
  oddSuccess: (issued: IssuedTokens) => Record<string, unknown>;
  /** Status of the answer (default 200). */
  status?: number;
  /** Mint the new refresh token as 15 decimal digits, so the body can carry it as a JSON number. */
  numericRefreshToken?: boolean;
  /** Answer form-encoded (non-string values as their JSON text), whatever the provider's default. */
  formEncoded?: boolean;
}

/**
 * A provider that rotates and answers late, or never (issue 18): the refresh
 * IS processed at once (the presented refresh token is spent, a new pair
 * minted), then the answer is written after `answerAfterMs`, or never — the
 * socket is held open, unanswered, until the client gives up or the provider
 * closes. Whoever abandoned the request has lost the new pair; presenting the
 * spent token again is a replay.
 */
export type LateAnswerFault = { answerAfterMs: number } | { neverAnswer: true };

/** The faults under which the provider still processes the refresh (rotates). */
export type ProcessedFault = OddSuccessFault | LateAnswerFault;

export function isProcessedFault(f: TokenFault): f is ProcessedFault {
  return "oddSuccess" in f || "answerAfterMs" in f || "neverAnswer" in f;
}

/**
 * A replacement for the next token-endpoint response. The refresh is NOT
 * processed, except by a ProcessedFault (an OddSuccessFault or a LateAnswerFault).
 */
export type TokenFault =
  | OddSuccessFault
  | LateAnswerFault
  /** This status with body `{}` (or `body`), plus optional Retry-After and headers. */
  | { status: number; retryAfterSec?: number; headers?: Record<string, string>; body?: string; contentType?: string }
  /** A proxy-style HTML 502 page. */
  | { html502: true }
  /** Hold the request this long (past the client's timeout), then answer 504. */
  | { hangMs: number }
  /** Destroy the socket without answering. */
  | { reset: true }
  /** An OAuth error body; status defaults to 200 (github), 401 (invalid_client) or 400. */
  | { oauthError: string; status?: number; description?: string }
  /** A 200 body of this many bytes, chunked unless `chunked: false` (then Content-Length is sent). */
  | { bigBodyBytes: number; chunked?: boolean };

/** A replacement for the next validate-endpoint response. */
export interface ValidateFault {
  status: number;
  headers?: Record<string, string>;
  body?: string;
  /** Hold the answer this long first (to outlast the client's timeout). */
  hangMs?: number;
}
