import type { ProviderPlan, SecretSource } from "./config.js";
import { MAX_TOKEN_LIFETIME_SEC, RESERVED_AUTHORIZE_PARAMS, isAllowedTransport } from "../oauth/index.js";
import { MAX_ROTATION_GRACE_MS, catalogDefaults, type ProviderDefaults } from "./catalog-defaults.js";
import { canonicalType, type ProviderInput } from "./schema.js";

/**
 * One configured provider: the catalog's defaults for its type applied
 * (applyCatalog), then the result checked (checkProvider). Pure: the client
 * secret stays a SecretSource until readConfigFiles reads it.
 */
export function planProvider(p: ProviderInput, where: string): { plan?: ProviderPlan; problems: string[] } {
  const defaults = catalogDefaults(canonicalType(p.type), { authUrl: p.auth_url, apiBaseUrl: p.api_base_url, clientId: p.client_id });
  if (defaults === undefined) {
    // Self-hosted only (bitbucket-server, jfrog): nothing to derive URLs from.
    return { problems: [`${where}.auth_url: required for type ${p.type} (self-hosted; the other URLs are derived from its host)`] };
  }
  const plan = applyCatalog(p, defaults);
  const problems = checkProvider(p, plan, defaults, where);
  return problems.length > 0 ? { problems } : { plan, problems };
}

/** oidc: endpoints come from the issuer at startup, except those set here. */
function discovers(p: ProviderInput, defaults: ProviderDefaults): boolean {
  return defaults.discovery && p.issuer !== undefined;
}

/** The provider with the catalog's defaults filled in where the config leaves a field unset. */
function applyCatalog(p: ProviderInput, defaults: ProviderDefaults): ProviderPlan {
  const discover = discovers(p, defaults);
  const scopes = p.scopes ?? defaults.scopes;
  const authUrlParams = { ...p.auth_url_params };
  // OpenID Connect Core §11: without prompt=consent a provider ignores offline_access, and issues no refresh token.
  if (defaults.consentForOfflineAccess && scopes.includes("offline_access") && authUrlParams.prompt === undefined) authUrlParams.prompt = "consent";
  const revokeUrl = p.revoke_url ?? defaults.revokeUrl;
  // An explicit revoke_url makes RFC 7009 revocation possible where the type has none.
  let revocation = defaults.revocation;
  if (revocation === "none" && p.revoke_url !== undefined) revocation = "rfc7009";
  if (revocation === "rfc7009" && revokeUrl === undefined && !discover) revocation = "none";

  const plan: ProviderPlan = {
    id: p.id,
    type: canonicalType(p.type),
    displayName: p.display_name ?? defaults.displayName,
    clientId: p.client_id,
    clientSecret: clientSecretSource(p),
    authUrl: p.auth_url ?? defaults.authUrl,
    // "" while discovery is pending (src/oauth/discovery.ts fills it in).
    tokenUrl: p.token_url ?? defaults.tokenUrl ?? "",
    validateUrl: p.validate_url ?? defaults.validateUrl,
    revokeUrl,
    deviceCodeUrl: p.device_code_url ?? defaults.deviceCodeUrl,
    apiBaseUrl: p.api_base_url ?? defaults.apiBaseUrl,
    scopes,
    extraTokenKeys: p.extra_token_keys ?? defaults.extraTokenKeys,
    regex: p.regex !== undefined ? compiles(p.regex) : defaults.regex !== undefined ? new RegExp(defaults.regex, "i") : undefined, // host names are case-insensitive
    pkceMethods: p.pkce_methods ?? defaults.pkceMethods,
    deviceFlow: p.device_flow ?? false,
    noRefresh: p.no_refresh ?? false,
    rotationGraceMs: p.rotation_grace ?? defaults.rotationGraceMs,
    resendIsProbe: p.refresh_token_reuse === undefined ? defaults.resendIsProbe : p.refresh_token_reuse === "rejected",
    tokenAuthMethod: p.token_auth_method ?? defaults.tokenAuthMethod,
    authUrlParams,
    revocation,
    quirks: defaults.quirks,
  };
  if (defaults.scopeOnRefresh) plan.scopeOnRefresh = true;
  if (p.default_token_lifetime !== undefined) plan.defaultTokenLifetimeSec = Math.ceil(p.default_token_lifetime / 1000);
  if (p.issuer !== undefined) plan.issuer = p.issuer;
  if (discover && p.issuer !== undefined) {
    const explicit: NonNullable<ProviderPlan["pendingDiscovery"]>["explicit"][number][] = [];
    if (p.auth_url !== undefined) explicit.push("authUrl");
    if (p.token_url !== undefined) explicit.push("tokenUrl");
    if (p.revoke_url !== undefined) explicit.push("revokeUrl");
    if (p.device_code_url !== undefined) explicit.push("deviceCodeUrl");
    if (p.validate_url !== undefined) explicit.push("validateUrl");
    if (p.pkce_methods !== undefined) explicit.push("pkceMethods");
    if (p.token_auth_method !== undefined) explicit.push("tokenAuthMethod");
    plan.pendingDiscovery = { issuer: p.issuer, explicit };
  }
  return plan;
}

/** What is wrong with a provider as configured and completed from the catalog; [] when nothing. */
function checkProvider(p: ProviderInput, plan: ProviderPlan, defaults: ProviderDefaults, where: string): string[] {
  const problems: string[] = [];
  const discover = discovers(p, defaults);
  if (p.issuer !== undefined && !defaults.discovery) problems.push(`${where}.issuer: only used by type oidc`);
  if (defaults.discovery && p.issuer === undefined && p.token_url === undefined) {
    problems.push(`${where}.issuer: required for type ${p.type} (or set token_url and auth_url)`);
  }
  if (plan.tokenUrl === "" && !defaults.discovery) problems.push(`${where}.token_url: required for type ${p.type}`);
  const secretSources = [p.client_secret, p.client_secret_file, p.client_secret_credential].filter((s) => s !== undefined);
  if (secretSources.length > 1) problems.push(`${where}: set only one of client_secret, client_secret_file, client_secret_credential`);
  if (p.regex !== undefined && plan.regex === undefined) {
    problems.push(`${where}.regex: not a valid regular expression (${regexError(p.regex)})`);
  }
  if (plan.pkceMethods.length === 0) problems.push(`${where}.pkce_methods: must list at least one method (use [none] to opt out)`);
  if (plan.pkceMethods.includes("none") && plan.pkceMethods.length > 1) {
    problems.push(`${where}.pkce_methods: "none" cannot be combined with other methods`);
  }
  if (plan.deviceFlow && plan.deviceCodeUrl === undefined && !discover) {
    const why = defaults.deviceFlowSupported ? "" : ` (type ${p.type} has no device authorization endpoint)`;
    problems.push(`${where}.device_flow: needs device_code_url${why}`);
  }
  if (plan.rotationGraceMs > MAX_ROTATION_GRACE_MS) problems.push(`${where}.rotation_grace: must be at most 1h`);
  const lifetime = plan.defaultTokenLifetimeSec;
  if (lifetime !== undefined && lifetime < 1) problems.push(`${where}.default_token_lifetime: must be at least 1s`);
  if (lifetime !== undefined && lifetime > MAX_TOKEN_LIFETIME_SEC) problems.push(`${where}.default_token_lifetime: must be at most 10 years (87600h)`);
  for (const key of Object.keys(p.auth_url_params ?? {})) {
    if (RESERVED_AUTHORIZE_PARAMS.has(key)) {
      problems.push(`${where}.auth_url_params.${key}: set by tokenbroker on every authorize URL and cannot be overridden`);
    }
  }
  const scopeParam = defaults.requiresScope?.orParam;
  if (scopeParam !== undefined && plan.scopes.length === 0 && (plan.authUrlParams[scopeParam] ?? "") === "") {
    problems.push(`${where}.scopes: type ${p.type} needs at least one scope (or auth_url_params.${scopeParam}); its authorize endpoint refuses a request for none`);
  }
  const urls = {
    auth_url: plan.authUrl,
    token_url: plan.tokenUrl === "" ? undefined : plan.tokenUrl,
    validate_url: plan.validateUrl,
    revoke_url: plan.revokeUrl,
    device_code_url: plan.deviceCodeUrl,
    api_base_url: plan.apiBaseUrl,
    issuer: p.issuer,
  };
  for (const [field, value] of Object.entries(urls)) {
    // A client secret, code or token must never cross the network in clear.
    if (value !== undefined && !isAllowedTransport(value)) problems.push(`${where}.${field}: http is only allowed on loopback hosts; use https`);
  }
  return problems;
}

/** client_secret, client_secret_file or client_secret_credential (none: an empty secret, for public clients). */
function clientSecretSource(p: ProviderInput): SecretSource {
  if (p.client_secret_credential !== undefined) return { kind: "credential", name: p.client_secret_credential };
  if (p.client_secret_file !== undefined) return { kind: "file", path: p.client_secret_file };
  return { kind: "inline", value: p.client_secret ?? "" };
}

function compiles(source: string): RegExp | undefined {
  return regexError(source) === undefined ? new RegExp(source) : undefined;
}

function regexError(source: string): string | undefined {
  try {
    new RegExp(source);
    return undefined;
  } catch (err) {
    return (err as Error).message;
  }
}
