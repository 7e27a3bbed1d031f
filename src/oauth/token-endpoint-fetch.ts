import { fetchBounded, type TransportLimits } from "./http.js";
import { OAuthError } from "./oauth-error.js";
import { parseTokenBody, type ParsedTokenBody } from "./token-response.js";

/** What the provider actually said, before normalisation; the only record of its answer. */
export interface TokenExchange extends ParsedTokenBody {
  status: number;
  headers: Headers;
}

/** The subset of oauth4webapi's customFetch arguments we rely on. */
export interface CustomFetchInit {
  method: string;
  headers: Record<string, string>;
  body?: URLSearchParams | string | undefined;
}

export type CustomFetch = (url: string, init: CustomFetchInit) => Promise<Response>;

/**
 * The least time a token-endpoint body that has started to arrive is given
 * to finish: it may carry a rotated refresh token, and cutting it short
 * loses that token.
 */
const MIN_BODY_TIMEOUT_MS = 30_000;

/** Where tokenEndpointFetch leaves the exchange; empty until an answer arrived. */
export interface ExchangeRecord {
  exchange?: TokenExchange;
}

/**
 * Builds the `customFetch` handed to oauth4webapi for one token-endpoint
 * request (any grant, or the device authorization request). oauth4webapi
 * builds and authenticates the request; its strict response processing is
 * not used, because it refuses 2xx answers the broker must accept (an odd
 * `expires_in` or `token_type` after the provider has already rotated the
 * refresh token) and its errors hide what we need (a WWW-Authenticate
 * challenge hides the body's error code; a non-JSON body hides the status
 * and Retry-After). So the answer is recorded in `into` and oauth4webapi
 * gets an empty response it passes back unread.
 */
export function tokenEndpointFetch(limits: TransportLimits, into: ExchangeRecord, what = "token endpoint"): CustomFetch {
  const bounds: TransportLimits = { ...limits, bodyTimeoutMs: limits.bodyTimeoutMs ?? Math.max(limits.timeoutMs, MIN_BODY_TIMEOUT_MS) };
  return async (url, init) => {
    const x = await fetchBounded(url, init, bounds, what);
    into.exchange = { status: x.status, headers: x.headers, ...parseTokenBody(x) };
    return new Response(null, { status: 204 });
  };
}

/** The answer tokenEndpointFetch recorded; none means oauth4webapi returned without sending. */
export function recordedAnswer(into: ExchangeRecord, what: string): TokenExchange {
  if (into.exchange === undefined) throw new OAuthError({ kind: "client_credentials", sent: "not_sent", message: `${what} request not sent` });
  return into.exchange;
}
