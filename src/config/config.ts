import type { ListenAddress } from "./listen-address.js";
import type { CallerScope, ProviderType } from "./schema.js";

/** The validated, resolved configuration the daemon runs with. */
export interface Config {
  /** The file it came from, or a label such as "<dev>". */
  source: string;
  listen: { grpc: ListenAddress[]; http?: ListenAddress | undefined };
  publicUrl: string;
  redirectAllowlist: string[];
  linkStateTtlMs: number;
  store: { sqlite: { path: string } };
  encryption: { keysFile?: string | undefined; keysCredential?: string | undefined };
  refresh: RefreshSettings;
  shutdownGraceMs: number;
  logLevel: "trace" | "debug" | "info" | "warn" | "error" | "silent";
  callers: CallerConfig[];
  providers: ProviderConfig[];
}

export interface RefreshSettings {
  minValidForMs: number;
  timeoutMs: number;
  initialBackoffMs: number;
  maxBackoffMs: number;
  budgetMs: number;
  providerConcurrency: number;
  /** Validate a freshly refreshed token at the provider's validate URL. */
  validate: boolean;
  /** How long a provider that rejected our client credentials is left alone (doubling). */
  misconfiguredBackoffMs: number;
}

export interface CallerConfig {
  name: string;
  tokenSha256: Buffer;
  scopes: CallerScope[];
}

export interface ProviderConfig {
  id: string;
  type: ProviderType;
  displayName: string;
  clientId: string;
  clientSecret: string;
  authUrl?: string | undefined;
  tokenUrl: string;
  validateUrl?: string | undefined;
  revokeUrl?: string | undefined;
  deviceCodeUrl?: string | undefined;
  apiBaseUrl?: string | undefined;
  scopes: string[];
  extraTokenKeys: string[];
  regex?: RegExp | undefined;
  pkceMethods: Array<"S256" | "plain" | "none">;
  deviceFlow: boolean;
  noRefresh: boolean;
  tokenAuthMethod: "client_secret_basic" | "client_secret_post";
  authUrlParams: Record<string, string>;
  revocation: "rfc7009" | "github-grant" | "slack" | "none";
  quirks: "github" | "standard" | "slack" | "jfrog" | "azure-devops";
  /** oidc: the issuer whose discovery document supplies the endpoints. */
  issuer?: string | undefined;
  /**
   * oidc: set until applyDiscovery (src/oauth/discovery.ts) has filled the
   * endpoints from the issuer at startup; `explicit` lists what the operator
   * set and discovery must not replace. tokenUrl is "" while pending.
   */
  pendingDiscovery?: { issuer: string; explicit: ReadonlyArray<"authUrl" | "tokenUrl" | "revokeUrl" | "deviceCodeUrl" | "validateUrl" | "pkceMethods" | "tokenAuthMethod"> } | undefined;
  /** Send the configured scopes on refresh (Entra v2). */
  scopeOnRefresh?: boolean | undefined;
}
