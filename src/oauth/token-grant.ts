import * as oauth from "oauth4webapi";
import { isSuccessStatus } from "./classify.js";
import { clientAuthFor } from "./client-auth.js";
import type { TransportLimits } from "./http.js";
import { isLoopbackUrl } from "./loopback.js";
import type { OAuthProvider } from "./provider.js";
import { answerError, sendError } from "./token-endpoint-error.js";
import { recordedAnswer, tokenEndpointFetch, type ExchangeRecord, type TokenExchange } from "./token-endpoint-fetch.js";
import { OAuthError } from "./oauth-error.js";
import { isErrorAnswer, normalizeTokenResponse, type TokenSet } from "./token-normalize.js";

export interface GrantOptions extends Pick<TransportLimits, "timeoutMs" | "bodyTimeoutMs"> {
  /**
   * Shutdown only. A caller's deadline must not reach a refresh: once the
   * provider has rotated the refresh token, an aborted response is a lost grant.
   */
  signal?: AbortSignal | undefined;
  /** Wall clock (epoch ms) for HTTP-date Retry-After values; default Date.now. */
  now?: (() => number) | undefined;
}

/** What every grant needs to reach and authenticate at the token endpoint, and to read its answer. */
export type GrantProvider = Pick<
  OAuthProvider,
  "id" | "tokenUrl" | "clientId" | "clientSecret" | "tokenAuthMethod" | "extraTokenKeys" | "quirks" | "defaultTokenLifetimeSec"
>;

/** Builds one token-endpoint request with the pieces tokenGrant prepared. */
export type GrantSender = (
  as: oauth.AuthorizationServer,
  client: oauth.Client,
  auth: oauth.ClientAuth,
  options: oauth.TokenEndpointRequestOptions,
) => Promise<Response>;

export const USER_AGENT = "tokenbroker";

/**
 * Exactly one token-endpoint request (refresh, authorization code, device
 * code, or a provider's own grant), built and authenticated by oauth4webapi
 * and sent through token-endpoint-fetch.ts. The answer is judged here, from
 * the raw exchange:
 * - a 2xx that is not an OAuth error body is a success, normalised by
 *   token-normalize.ts (docs/design.md §3.1); without an access token or a
 *   refresh token it is an unusable_answer, never a transient error;
 * - anything else is an OAuthError classified by classify.ts, with the
 *   provider's error code in `error` for callers that branch on it (the
 *   device flow's authorization_pending).
 * `secrets` are scrubbed from anything echoed back.
 */
export async function tokenGrant(p: GrantProvider, send: GrantSender, opts: GrantOptions, secrets: readonly string[]): Promise<TokenSet> {
  const seen: ExchangeRecord = {};
  const scrub = [...secrets, p.clientSecret];
  const nowMs = (): number => (opts.now ?? Date.now)();
  try {
    // No discovery: the token endpoint is all a grant needs, and the issuer
    // only matters for ID tokens, which the broker does not verify or use.
    const as: oauth.AuthorizationServer = { issuer: new URL(p.tokenUrl).origin, token_endpoint: p.tokenUrl };
    const client: oauth.Client = { client_id: p.clientId };
    await send(as, client, clientAuthFor(p), {
      [oauth.customFetch]: tokenEndpointFetch(opts, seen),
      // oauth4webapi refuses http:// unless told; only loopback gets that.
      [oauth.allowInsecureRequests]: isLoopbackUrl(p.tokenUrl),
      headers: { "user-agent": USER_AGENT },
    });
  } catch (e) {
    throw sendError(e, seen.exchange, scrub, "token endpoint", nowMs());
  }
  const judged = judgeTokenAnswer(recordedAnswer(seen, "token endpoint"), p, scrub, nowMs());
  if (judged instanceof OAuthError) throw judged;
  return judged;
}

/**
 * What a token endpoint's answer means, from the raw exchange alone (pure): a
 * 2xx that is not an OAuth error body and yields a token is a success,
 * normalised; everything else is an OAuthError classified by classify.ts. The
 * simulation (sim/) feeds its provider model's answers through this same
 * function, so its engines see exactly the daemon's judgement.
 */
export function judgeTokenAnswer(x: TokenExchange, p: Pick<GrantProvider, "extraTokenKeys" | "defaultTokenLifetimeSec">, scrub: readonly string[], nowMs: number): TokenSet | OAuthError {
  if (isSuccessStatus(x.status) && x.json !== undefined && !isErrorAnswer(x.json)) {
    const tokens = normalizeTokenResponse(x.json, p);
    if (tokens.accessToken !== "" || tokens.refreshToken !== undefined) return tokens;
  }
  return answerError(x, scrub, "token endpoint", nowMs);
}
