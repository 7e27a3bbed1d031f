import type { CatalogEntry, CatalogUrls, ProviderBase, ReuseSemantics, RotationSemantics } from "./catalog-entry.js";
import { hostRegex } from "./host-regex.js";
import { CATALOG } from "./provider-catalog.js";
import type { ProviderType } from "./schema.js";

/** The longest reuse grace window a config may declare (`rotation_grace`); an hour already lets a stolen token live long. */
export const MAX_ROTATION_GRACE_MS = 3_600_000;

/**
 * The catalog entry's fields that are defaults as they stand: they pass
 * through catalogDefaults unchanged, so a new one is a CatalogEntry field
 * and its values (provider-catalog.ts), and nothing here. The rest are how
 * to derive URLs and the host pattern, and the git client's view.
 */
type PassedThrough = Omit<CatalogEntry, "cloudBase" | "authorizePath" | "apiBase" | "urls" | "host" | "git" | "deviceFlow" | "scopeOnRefresh" | "discovery" | "consentForOfflineAccess">;

/** The defaults of one provider, resolved for its configured auth_url, api_base_url and client id. */
export interface ProviderDefaults extends CatalogUrls, PassedThrough {
  apiBaseUrl?: string;
  /** Source of a RegExp to compile with the "i" flag. */
  regex?: string;
  deviceFlowSupported: boolean;
  /** Whether sending a rotated refresh token again is harmless (it is refused, or still works). */
  resendIsProbe: boolean;
  /** The reuse grace window the rotation semantics allow (`rotation_grace` when unset). */
  rotationGraceMs: number;
  scopeOnRefresh: boolean;
  discovery: boolean;
  consentForOfflineAccess: boolean;
}

export interface DefaultsContext {
  /** The configured auth_url, when set: self-hosted URLs derive from it. */
  authUrl?: string | undefined;
  /** The configured api_base_url, when set: the URLs under the API derive from it. */
  apiBaseUrl?: string | undefined;
  clientId?: string | undefined;
}

/**
 * The base a configured auth_url points at: the URL without the type's
 * authorize path (keeping any prefix, e.g. https://host/gitlab or an Entra
 * tenant), or just its origin when the path is something else. Pure.
 */
export function baseFromAuthUrl(authUrl: string, authorizePath: string | undefined): ProviderBase {
  const u = new URL(authUrl);
  const path = u.pathname.replace(/\/+$/, "");
  if (authorizePath !== undefined && path.endsWith(authorizePath)) {
    return `${u.origin}${path.slice(0, path.length - authorizePath.length)}`;
  }
  return u.origin;
}

/**
 * How long after a send the same refresh token may be sent again
 * (docs/design.md §3 invariant 11). A provider that keeps the old token valid
 * makes a second send harmless, so the whole window a config may declare is
 * used; everything else gets none: a second send would be a replay.
 */
export function rotationGraceFor(rotation: RotationSemantics): number {
  return rotation === "replaced_not_revoked" ? MAX_ROTATION_GRACE_MS : 0;
}

/**
 * Whether a second send of a refresh token whose first send's answer was
 * lost is harmless (docs/design.md §3 invariant 11): only where the catalog
 * records that the provider refuses a reused token without revoking the
 * grant, or keeps the old one valid. Undocumented counts as revoking.
 */
export function resendIsProbe(reuse: ReuseSemantics): boolean {
  return reuse === "rejected" || reuse === "accepted";
}

/**
 * Pure. Undefined when the type needs an auth_url (self-hosted only) and
 * none was given; the loader reports that as a config error.
 */
export function catalogDefaults(type: ProviderType, ctx: DefaultsContext = {}): ProviderDefaults | undefined {
  const entry: CatalogEntry = CATALOG[type];
  const configured = ctx.authUrl !== undefined && URL.canParse(ctx.authUrl) ? ctx.authUrl : undefined;
  const base = configured !== undefined ? baseFromAuthUrl(configured, entry.authorizePath) : entry.cloudBase;
  if (base === undefined && entry.urls !== undefined) return undefined;

  const configuredApi = ctx.apiBaseUrl !== undefined && URL.canParse(ctx.apiBaseUrl) ? ctx.apiBaseUrl.replace(/\/+$/, "") : undefined;
  const api = configuredApi ?? (base !== undefined ? entry.apiBase?.(base) : undefined);
  const urls: CatalogUrls = base !== undefined && entry.urls ? entry.urls(base, api ?? base, ctx.clientId ?? "") : {};
  const { cloudBase, authorizePath, apiBase, urls: entryUrls, host, git, deviceFlow, scopeOnRefresh, discovery, consentForOfflineAccess, ...passed } = entry;
  const out: ProviderDefaults = {
    ...urls,
    ...passed,
    // Copies: a config's provider must not share (and change) the catalog's arrays.
    scopes: [...passed.scopes],
    extraTokenKeys: [...passed.extraTokenKeys],
    pkceMethods: [...passed.pkceMethods],
    deviceFlowSupported: deviceFlow,
    rotationGraceMs: rotationGraceFor(passed.rotation),
    resendIsProbe: resendIsProbe(passed.reuse),
    scopeOnRefresh: scopeOnRefresh ?? false,
    discovery: discovery ?? false,
    consentForOfflineAccess: consentForOfflineAccess ?? false,
  };
  if (api !== undefined) out.apiBaseUrl = api;
  if (passed.requiresScope !== undefined) out.requiresScope = { ...passed.requiresScope };
  if (base !== undefined && entry.host !== undefined) {
    out.regex = hostRegex(entry.host(new URL(base).hostname, base === entry.cloudBase));
  }
  return out;
}
