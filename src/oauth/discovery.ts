import * as oauth from "oauth4webapi";
import { fetchBounded, type TransportLimits } from "./http.js";
import { isAllowedTransport, isLoopbackUrl } from "./loopback.js";
import { OAuthError } from "./oauth-error.js";
import type { PkceMethod, TokenAuthMethod } from "./provider.js";
import { USER_AGENT } from "./token-grant.js";

/** The parts of an OpenID Provider's metadata the broker uses. */
export interface OidcEndpoints {
  issuer: string;
  authorizationEndpoint?: string;
  tokenEndpoint: string;
  revocationEndpoint?: string;
  deviceAuthorizationEndpoint?: string;
  userinfoEndpoint?: string;
  codeChallengeMethodsSupported?: string[];
  tokenEndpointAuthMethodsSupported?: string[];
}

/**
 * Fetches `{issuer}/.well-known/openid-configuration` (OpenID Connect
 * Discovery 1.0 §4) once, at startup. oauth4webapi checks that the document
 * names the same issuer, so a typo cannot silently point the broker at
 * another server. Failures are OAuthErrors: transient for network trouble
 * and 5xx (worth retrying), client_credentials (a configuration problem)
 * for 4xx, an issuer mismatch or an unusable document.
 */
export async function discoverOidc(issuer: string, opts: TransportLimits): Promise<OidcEndpoints> {
  let issuerUrl: URL;
  try {
    issuerUrl = new URL(issuer);
  } catch {
    throw new OAuthError({ kind: "client_credentials", sent: "not_sent", message: "issuer is not a URL" });
  }
  if (!isAllowedTransport(issuer)) {
    throw new OAuthError({ kind: "client_credentials", sent: "not_sent", message: "issuer must be https (or http on loopback)" });
  }
  let status: number | undefined;
  let metadata: oauth.AuthorizationServer;
  try {
    const response = await oauth.discoveryRequest(issuerUrl, {
      [oauth.customFetch]: async (url, init) => {
        const x = await fetchBounded(url, { method: init.method, headers: { ...init.headers, "user-agent": USER_AGENT } }, opts, "discovery endpoint");
        status = x.status;
        return new Response(x.status === 204 || x.status === 304 ? null : x.body, { status: x.status, headers: x.headers });
      },
      [oauth.allowInsecureRequests]: isLoopbackUrl(issuerUrl),
    });
    metadata = await oauth.processDiscoveryResponse(issuerUrl, response);
  } catch (e) {
    if (e instanceof OAuthError) throw e;
    const transient = status !== undefined && (status >= 500 || status === 429);
    const detail = status === undefined || (status >= 200 && status <= 299) ? "an unusable or mismatched document" : `HTTP ${status}`;
    throw new OAuthError({ kind: transient ? "transient" : "client_credentials", sent: status === undefined ? "not_sent" : "answered", message: `discovery answered ${detail}`, status });
  }
  return endpointsFromMetadata(metadata);
}

/** Pure: the fields used, with endpoints that are neither https nor loopback http dropped. */
export function endpointsFromMetadata(m: oauth.AuthorizationServer): OidcEndpoints {
  const url = (v: unknown): string | undefined => (typeof v === "string" && isAllowedTransport(v) ? v : undefined);
  const list = (v: unknown): string[] | undefined => (Array.isArray(v) ? v.filter((x): x is string => typeof x === "string") : undefined);
  const tokenEndpoint = url(m.token_endpoint);
  if (tokenEndpoint === undefined) {
    throw new OAuthError({ kind: "client_credentials", sent: "answered", message: "discovery document has no usable token_endpoint" });
  }
  const out: OidcEndpoints = { issuer: m.issuer, tokenEndpoint };
  const set = <K extends keyof OidcEndpoints>(k: K, v: OidcEndpoints[K] | undefined): void => {
    if (v !== undefined) out[k] = v;
  };
  set("authorizationEndpoint", url(m.authorization_endpoint));
  set("revocationEndpoint", url(m.revocation_endpoint));
  set("deviceAuthorizationEndpoint", url(m.device_authorization_endpoint));
  set("userinfoEndpoint", url(m.userinfo_endpoint));
  set("codeChallengeMethodsSupported", list(m.code_challenge_methods_supported));
  set("tokenEndpointAuthMethodsSupported", list(m.token_endpoint_auth_methods_supported));
  return out;
}

/** The provider fields applyDiscovery may fill; the config layer records which the operator set. */
export type DiscoverableField = "authUrl" | "tokenUrl" | "revokeUrl" | "deviceCodeUrl" | "validateUrl" | "pkceMethods" | "tokenAuthMethod";

export interface DiscoveryTarget {
  authUrl?: string | undefined;
  tokenUrl: string;
  revokeUrl?: string | undefined;
  deviceCodeUrl?: string | undefined;
  validateUrl?: string | undefined;
  pkceMethods: readonly PkceMethod[];
  tokenAuthMethod: TokenAuthMethod;
  revocation: "rfc7009" | "github-grant" | "slack" | "none";
  deviceFlow?: boolean | undefined;
  /** Set by the config loader for oidc providers; cleared here. */
  pendingDiscovery?: { issuer: string; explicit: readonly DiscoverableField[] } | undefined;
}

/**
 * Pure: the provider with what the operator left unset taken from the
 * metadata. Explicit settings always win. PKCE falls back from S256 only
 * when the server lists its methods and S256 is not among them (RFC 8414
 * §2: absent means "not advertised", not "unsupported"); the client
 * authentication method likewise moves to client_secret_post only when the
 * server lists methods without client_secret_basic. Revocation is RFC 7009
 * exactly when there is an endpoint. Throws an OAuthError (kind
 * client_credentials: a configuration problem) when the device flow is on
 * and neither the config nor the issuer names a device endpoint.
 */
export function applyDiscovery<T extends DiscoveryTarget>(config: T, metadata: OidcEndpoints): T {
  const explicit = new Set<DiscoverableField>(config.pendingDiscovery?.explicit ?? []);
  const next: T = { ...config, pendingDiscovery: undefined };
  const fill = <K extends "authUrl" | "tokenUrl" | "revokeUrl" | "deviceCodeUrl" | "validateUrl">(k: K, v: string | undefined): void => {
    if (!explicit.has(k) && v !== undefined) (next as DiscoveryTarget)[k] = v;
  };
  fill("authUrl", metadata.authorizationEndpoint);
  fill("tokenUrl", metadata.tokenEndpoint);
  fill("revokeUrl", metadata.revocationEndpoint);
  fill("deviceCodeUrl", metadata.deviceAuthorizationEndpoint);
  fill("validateUrl", metadata.userinfoEndpoint);
  const methods = metadata.codeChallengeMethodsSupported;
  if (!explicit.has("pkceMethods") && methods !== undefined && !methods.includes("S256")) {
    next.pkceMethods = methods.includes("plain") ? ["plain"] : ["none"];
  }
  const auth = metadata.tokenEndpointAuthMethodsSupported;
  if (!explicit.has("tokenAuthMethod") && auth !== undefined && !auth.includes("client_secret_basic") && auth.includes("client_secret_post")) {
    next.tokenAuthMethod = "client_secret_post";
  }
  if (next.revocation === "rfc7009" || next.revocation === "none") {
    next.revocation = next.revokeUrl !== undefined && next.revokeUrl !== "" ? "rfc7009" : "none";
  }
  if (next.deviceFlow === true && (next.deviceCodeUrl === undefined || next.deviceCodeUrl === "")) {
    throw new OAuthError({ kind: "client_credentials", sent: "answered", message: "device_flow is on but the issuer advertises no device_authorization_endpoint" });
  }
  return next;
}
