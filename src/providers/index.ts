// The provider, reachable from one place: the catalog of provider types and
// what each defaults to (config/provider-catalog.ts, applied at load by
// config/provider-config.ts), a configured provider as the daemon runs it
// (ProviderConfig) and its OAuth client's view (OAuthProvider), OIDC
// discovery at start, and the registry the engine, the link flows and the
// services look providers up in. Other rooms enter src/providers only here.
export type { ProviderConfig } from "../config/config.js";
export { CATALOG, gitCredentialStyle } from "../config/provider-catalog.js";
export { catalogDefaults, type ProviderDefaults } from "../config/catalog-defaults.js";
export type { OAuthProvider } from "../oauth/index.js";
export { discoverProviders } from "./discovery.js";
export { ProviderRegistry, type ProviderEntry, type RegistryOptions } from "./registry.js";
export { ProviderGate } from "./provider-gate.js";
export { CallbackUrls } from "./callback-url.js";
