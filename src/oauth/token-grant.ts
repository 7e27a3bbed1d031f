import * as oauth from "oauth4webapi";
import { classify } from "./classify.js";
import { clientAuthFor } from "./client-auth.js";
import { isLoopbackUrl } from "./loopback.js";
import { OAuthError, FAILURE_REASON_MAX_BYTES } from "./oauth-error.js";
import type { ProviderQuirks, TokenAuthMethod } from "./provider.js";
import { redactSecrets, truncateUtf8 } from "./redact.js";
import { tokenEndpointFetch, type TokenExchange } from "./token-endpoint-fetch.js";
import { extractExtra } from "./token-response.js";

/** The outcome of a successful token request, in the broker's vocabulary. */
export interface TokenSet {
  accessToken: string;
  /** Lower-cased by oauth4webapi ("bearer"); "bearer" when the provider omits it. */
  tokenType: string;
  /** Absent when the provider did not rotate: keep the stored one (docs/design.md §3 invariant 3). */
  refreshToken?: string;
  /** Absent when the provider did not say; the caller picks a policy. */
  expiresInSec?: number;
  /** The configured extraTokenKeys found in the response. */
  extra: Record<string, string>;
  scope?: string;
}

export interface GrantOptions {
  timeoutMs: number;
  /**
   * Shutdown only. A caller's deadline must not reach a refresh: once the
   * provider has rotated the refresh token, an aborted response is a lost grant.
   */
  signal?: AbortSignal | undefined;
}

/** What every grant needs to reach and authenticate at the token endpoint. */
export interface GrantProvider {
  id: string;
  tokenUrl: string;
  clientId: string;
  clientSecret: string;
  tokenAuthMethod: TokenAuthMethod;
  extraTokenKeys: readonly string[];
  quirks?: ProviderQuirks | undefined;
}

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
 * code, or a provider's own grant), sent through oauth4webapi with the
 * quirks-aware fetch of token-endpoint-fetch.ts. Every failure, whatever
 * layer it comes from (transport, oauth4webapi validation, the provider's
 * answer), leaves as an OAuthError classified by classify.ts, with the
 * provider's error code in `error` for callers that branch on it (the
 * device flow's authorization_pending). `secrets` are scrubbed from
 * anything echoed back.
 */
export async function tokenGrant(
  p: GrantProvider,
  send: GrantSender,
  opts: GrantOptions,
  secrets: readonly string[],
): Promise<TokenSet> {
  let exchange: TokenExchange | undefined;
  try {
    // No discovery: the token endpoint is all a grant needs, and the issuer
    // only matters for ID tokens, which token-response.ts drops.
    const as: oauth.AuthorizationServer = { issuer: new URL(p.tokenUrl).origin, token_endpoint: p.tokenUrl };
    const client: oauth.Client = { client_id: p.clientId };
    const response = await send(as, client, clientAuthFor(p), {
      [oauth.customFetch]: tokenEndpointFetch(opts, (x) => {
        exchange = x;
      }),
      // oauth4webapi refuses http:// unless told; only loopback gets that.
      [oauth.allowInsecureRequests]: isLoopbackUrl(p.tokenUrl),
      headers: { "user-agent": USER_AGENT },
    });
    const recognizedTokenTypes = acceptTokenTypeOf(exchange);
    const body = await oauth.processGenericTokenEndpointResponse(as, client, response, recognizedTokenTypes ? { recognizedTokenTypes } : {});
    return toTokenSet(body, exchange, p.extraTokenKeys);
  } catch (e) {
    throw toOAuthError(e, exchange, [...secrets, p.clientSecret], "token endpoint");
  }
}

/**
 * oauth4webapi rejects token types other than bearer and DPoP, yet providers
 * use their own (Slack: "user", "bot"; JFrog: "access_token") for what are
 * bearer tokens in practice. The broker hands token_type through, so accept
 * what was sent.
 */
function acceptTokenTypeOf(x: TokenExchange | undefined): oauth.RecognizedTokenTypes | undefined {
  const t = x?.json?.token_type;
  if (typeof t !== "string") return undefined;
  const lower = t.toLowerCase();
  if (lower === "bearer" || lower === "dpop") return undefined;
  return { [lower]: () => {} };
}

function toTokenSet(body: oauth.TokenEndpointResponse, x: TokenExchange | undefined, extraKeys: readonly string[]): TokenSet {
  const set: TokenSet = {
    accessToken: body.access_token,
    tokenType: body.token_type,
    extra: extractExtra(x?.json, extraKeys),
  };
  if (body.refresh_token !== undefined) set.refreshToken = body.refresh_token;
  if (body.expires_in !== undefined) set.expiresInSec = body.expires_in;
  if (body.scope !== undefined && body.scope !== "") set.scope = body.scope;
  return set;
}

/** Printable-ASCII only, so a provider cannot smuggle control or reserved characters into messages. */
export function messageSafe(s: string): string {
  return s.replace(/[^A-Za-z0-9_.\- ]/g, "").slice(0, 64);
}

function libraryCode(e: unknown): string {
  const c = (e as { code?: unknown } | null)?.code;
  return typeof c === "string" ? messageSafe(c) : e instanceof Error ? messageSafe(e.name) : "unknown";
}

/**
 * Turns whatever a request to an OAuth endpoint threw into a classified
 * OAuthError, reading the raw exchange (when one happened) rather than
 * oauth4webapi's error, which may carry whole response bodies.
 */
export function toOAuthError(e: unknown, x: TokenExchange | undefined, secrets: readonly string[], what: string): OAuthError {
  if (e instanceof OAuthError) return e; // transport failures, already classified
  if (x === undefined) {
    // Refused before sending: http:// off loopback, a malformed URL. Config
    // problems, so the user's grant must be left alone.
    return new OAuthError({
      kind: "client_credentials",
      message: `${what} request not sent, provider configuration rejected (${libraryCode(e)})`,
    });
  }
  const scrub = (s: string, max: number) => truncateUtf8(redactSecrets(s.replace(/\s+/g, " ").trim(), secrets), max);
  const rawError = x.json?.error;
  const error = typeof rawError === "string" && rawError !== "" ? scrub(rawError, 128) : undefined;
  const rawDescription = x.json?.error_description;
  const description = typeof rawDescription === "string" ? scrub(rawDescription, FAILURE_REASON_MAX_BYTES) : undefined;
  const c = classify({ httpStatus: x.status, oauthError: error, headers: x.headers, nonJson: x.nonJson });

  let message = `${what} answered HTTP ${x.status}`;
  if (error !== undefined) message += ` with ${messageSafe(error)}`;
  else if (x.nonJson) message += " with a non-JSON body";
  else if (x.status >= 200 && x.status <= 299) message += ` with an unusable response (${libraryCode(e)})`;

  return new OAuthError({
    kind: c.kind,
    message,
    status: x.status,
    error,
    description,
    retryAfterMs: c.retryAfterMs,
  });
}
