import type { PkceMethod, ProviderQuirks, RevocationStyle, TokenAuthMethod } from "../oauth/index.js";

/** Where a provider lives: origin plus any path prefix (GitLab under /gitlab, an Entra tenant). */
export type ProviderBase = string;

/**
 * What a provider does with a refresh token once it was used:
 * - single_use: it is spent (and presenting it again may revoke the grant),
 *   so it is never sent twice;
 * - replaced_not_revoked: a new one comes back and the old one keeps working
 *   until it expires, so sending it again cannot be a replay;
 * - undocumented: the provider's documentation does not say; treated as
 *   single_use.
 * The refresh engine reads only the grace window derived from this
 * (catalog-defaults.ts; docs/design.md §3 invariant 11).
 */
export type RotationSemantics = "single_use" | "replaced_not_revoked" | "undocumented";

/**
 * What a provider does when a refresh token is presented again after it
 * rotated (the engine's question after a request whose answer was lost):
 * - revokes_grant: it revokes the whole grant (reuse detection, as Auth0 and
 *   Okta document) — a resend costs the link;
 * - rejected: it refuses the old token and leaves the grant alive — a resend
 *   is a harmless probe;
 * - accepted: the old token keeps working (replaced_not_revoked);
 * - undocumented: the documentation does not say; treated as revokes_grant.
 * The engine reads only `resendIsProbe` derived from this (catalog-defaults.ts;
 * docs/design.md §3 invariant 11).
 */
export type ReuseSemantics = "revokes_grant" | "rejected" | "accepted" | "undocumented";

export interface CatalogUrls {
  authUrl?: string;
  tokenUrl?: string;
  validateUrl?: string;
  revokeUrl?: string;
  deviceCodeUrl?: string;
}

/**
 * How git presents the provider's access token to its git server over HTTP
 * (`tokenbroker git-credential`): the user name sent with the token as the
 * password, and whether the server also takes it as `Authorization: Bearer`
 * (git's authtype=Bearer, git 2.46+). `source`: the page that says so, or
 * "undocumented" (any non-empty user name is then sent, and Basic only).
 */
export interface GitCredentialStyle {
  username: string;
  bearer: boolean;
  source: string;
}

/** One provider type in the catalog (provider-catalog.ts): its defaults, before a config resolves them. */
export interface CatalogEntry {
  displayName: string;
  /** The public service's base when auth_url is not set; absent: auth_url is required. */
  cloudBase?: ProviderBase;
  /** The authorize path below the base, used to find the base inside a configured auth_url. */
  authorizePath?: string;
  /** The REST API base of a provider base; a configured api_base_url replaces it. */
  apiBase?: (base: ProviderBase) => string;
  /** URLs below the base and the API base; clientId for providers that put it in a path (GitHub, JFrog). */
  urls?: (base: ProviderBase, api: string, clientId: string) => CatalogUrls;
  /** MatchProvider's host pattern (a regex fragment) for the base's host name. */
  host?: (hostname: string, isCloud: boolean) => string;
  scopes: string[];
  extraTokenKeys: string[];
  pkceMethods: PkceMethod[];
  /** Whether the provider has an RFC 8628 device authorization endpoint. */
  deviceFlow: boolean;
  revocation: RevocationStyle;
  tokenAuthMethod: TokenAuthMethod;
  quirks: ProviderQuirks;
  rotation: RotationSemantics;
  /** What git sends this provider's git server; absent: GIT_UNDOCUMENTED (provider-catalog.ts). */
  git?: GitCredentialStyle;
  /** What presenting a rotated refresh token again does, with the page that says so (or undocumented). */
  reuse: ReuseSemantics;
  scopeOnRefresh?: boolean;
  /** oidc: endpoints come from the issuer's discovery document at startup. */
  discovery?: boolean;
  /** Ask for `prompt=consent` along with `offline_access` (OpenID Connect Core §11). */
  consentForOfflineAccess?: boolean;
  /**
   * The authorize endpoint refuses a request that asks for no scope, neither
   * in `scope` nor in the auth_url_params key named here (Slack's `user_scope`).
   */
  requiresScope?: { orParam: string };
}
