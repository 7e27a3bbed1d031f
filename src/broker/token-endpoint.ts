import { refreshGrant, revokeTokens, type TokenSet } from "../oauth/index.js";
import type { ProviderEntry } from "../providers/index.js";

/** What one token-endpoint request is given: its own time bound and the engine's clock for Retry-After dates. */
export interface RefreshRequest {
  timeoutMs: number;
  now: () => number;
}

/**
 * The provider as the engine sees it: a port, so the engine can run against
 * the HTTP client in oauth/ (the daemon) or an in-process model of a provider
 * on a virtual clock (the simulation, sim/). `refresh` sends exactly one
 * refresh_token grant request; every failure is an OAuthError whose `sent`
 * says whether the provider may have rotated (docs/design.md §3.1).
 */
export interface TokenEndpoint {
  refresh(provider: ProviderEntry, refreshToken: string, req: RefreshRequest): Promise<TokenSet>;
  /** Best-effort revocation of tokens issued for a link that no longer exists. */
  revoke(provider: ProviderEntry, tokens: { accessToken: string; refreshToken?: string }, timeoutMs: number): Promise<{ revoked: boolean }>;
}

/** The daemon's adapter: the provider over HTTP (oauth/). */
export const httpTokenEndpoint: TokenEndpoint = {
  refresh: (provider, refreshToken, req) => refreshGrant(provider.config, refreshToken, { timeoutMs: req.timeoutMs, now: req.now, redirectUri: provider.redirectUri }),
  revoke: (provider, tokens, timeoutMs) => revokeTokens(provider.config, { ...tokens, timeoutMs }),
};

