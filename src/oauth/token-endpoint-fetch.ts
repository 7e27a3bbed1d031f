import { fetchBounded, type TransportLimits } from "./http.js";
import { normalizedTokenResponse, parseTokenBody, type ParsedTokenBody } from "./token-response.js";

/** What the provider actually said, before normalisation; classification and extras read this. */
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
 * Builds the `customFetch` handed to oauth4webapi for one token request. It
 * reports the raw exchange through `observe` before handing oauth4webapi a
 * normalised response, because oauth4webapi's own errors lose what we need
 * (a WWW-Authenticate challenge hides the body's error code; a non-JSON body
 * hides the status and Retry-After). The device authorization endpoint
 * speaks the same dialect (GitHub's HTTP-200 errors included), so it uses
 * this too, with its own name in messages (`what`).
 */
export function tokenEndpointFetch(
  limits: TransportLimits,
  observe: (x: TokenExchange) => void,
  what = "token endpoint",
): CustomFetch {
  return async (url, init) => {
    const x = await fetchBounded(url, init, limits, what);
    const parsed = parseTokenBody(x);
    observe({ status: x.status, headers: x.headers, ...parsed });
    return normalizedTokenResponse(x, parsed);
  };
}
