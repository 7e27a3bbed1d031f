import type { ProviderQuirks } from "./provider.js";

/**
 * What the OAuth client needs to know about one provider for refreshing and
 * validating. The config layer resolves catalog defaults and secret files
 * into this shape; nothing here reads files or environment, so tests can
 * point it at a loopback fake. providerEndpoints() derives it from a
 * resolved ProviderConfig.
 */
export interface ProviderEndpoints {
  /** The provider id from the config; used only in messages, never sent. */
  id: string;
  /** https, or http on a loopback host (tests and the dev demo provider). */
  tokenUrl: string;
  /** Where an access token can be checked (GitHub: api.github.com/user). */
  validateUrl?: string;
  clientId: string;
  clientSecret: string;
  /** Set explicitly: probing both styles doubles token-endpoint traffic. */
  tokenAuthMethod: "client_secret_basic" | "client_secret_post";
  /**
   * Fields of the raw token response copied into `TokenSet.extra`. Dotted
   * paths reach into nested objects, e.g. Slack's "authed_user.access_token".
   */
  extraTokenKeys: readonly string[];
  /** Wire dialect (JFrog's bearer client secret, legacy Azure DevOps assertions); default standard. */
  quirks?: ProviderQuirks;
  /** Sent as `scope` on refresh when scopeOnRefresh is set (Entra v2 expects it). */
  scopes?: readonly string[];
  scopeOnRefresh?: boolean;
  /** Legacy Azure DevOps wants the redirect URI on refresh too. */
  redirectUri?: string;
}

/** The fields of a resolved provider config that providerEndpoints reads. */
export interface EndpointSource {
  id: string;
  tokenUrl: string;
  validateUrl?: string | undefined;
  clientId: string;
  clientSecret: string;
  tokenAuthMethod: "client_secret_basic" | "client_secret_post";
  extraTokenKeys: readonly string[];
  quirks?: ProviderQuirks | undefined;
  scopes?: readonly string[] | undefined;
  scopeOnRefresh?: boolean | undefined;
}

/**
 * ProviderEndpoints from a resolved ProviderConfig (structurally), dropping
 * unset optionals. `redirectUri` is the link callback
 * (`{public_url}/oauth/{id}/callback`); only legacy Azure DevOps uses it on refresh.
 */
export function providerEndpoints(p: EndpointSource, redirectUri?: string): ProviderEndpoints {
  const e: ProviderEndpoints = {
    id: p.id,
    tokenUrl: p.tokenUrl,
    clientId: p.clientId,
    clientSecret: p.clientSecret,
    tokenAuthMethod: p.tokenAuthMethod,
    extraTokenKeys: p.extraTokenKeys,
  };
  if (p.validateUrl !== undefined) e.validateUrl = p.validateUrl;
  if (p.quirks !== undefined) e.quirks = p.quirks;
  if (p.scopes !== undefined) e.scopes = p.scopes;
  if (p.scopeOnRefresh !== undefined) e.scopeOnRefresh = p.scopeOnRefresh;
  if (redirectUri !== undefined) e.redirectUri = redirectUri;
  return e;
}
