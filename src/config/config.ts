import type { ListenAddress } from "../listen/listen-address.js";
import type { DiscoverableField, OAuthProvider } from "../oauth/index.js";
import type { CallerConfig, CallerTokensConfig } from "./callers.js";
import type { ProviderType } from "./schema.js";

/** The validated, resolved configuration the daemon runs with. */
export interface Config {
  /** The file it came from, or a label such as "<dev>". */
  source: string;
  listen: { grpc: Listener[]; http?: Listener | undefined };
  publicUrl: string;
  redirectAllowlist: string[];
  linkStateTtlMs: number;
  store: StoreConfig;
  /** Where the master keys are read from (`encryption.keys_file` or `.keys_credential`). */
  encryption: SecretFile;
  refresh: RefreshSettings;
  shutdownGraceMs: number;
  /** WatchAccessToken: open streams allowed per caller (unset in configs built by hand: 64). */
  watch?: { maxStreamsPerCaller: number } | undefined;
  logLevel: "trace" | "debug" | "info" | "warn" | "error" | "silent";
  /** `journald`: log lines carry the sd-daemon `<N>` priority prefix (src/log.ts). */
  logFormat: "json" | "journald";
  /** Audit lines go to this file (append-only, 0600, reopened on SIGHUP); stdout when unset. */
  auditFile?: string | undefined;
  callers: CallerConfig[];
  /** Limits of job-scoped caller tokens (CallerService). */
  callerTokens: CallerTokensConfig;
  providers: ProviderConfig[];
  /** Problems that do not stop a start, e.g. a store directory systemd creates at start. */
  warnings: string[];
}

/**
 * Where a secret comes from: written in the config (only a client secret may
 * be), a file, or a systemd credential (`$CREDENTIALS_DIRECTORY/<name>`).
 * Read by readSecret (src/config/secrets.ts) after the config is parsed.
 */
export type SecretSource = { kind: "inline"; value: string } | { kind: "file"; path: string } | { kind: "credential"; name: string };

/** A secret that is never written in the config itself: a file or a systemd credential. */
export type SecretFile = Exclude<SecretSource, { kind: "inline" }>;

/** The store: the SQLite file, or a fleet's PostgreSQL database. */
export type StoreConfig = SqliteStoreConfig | PostgresStoreConfig;

export interface SqliteStoreConfig {
  kind: "sqlite";
  path: string;
  cacheEntries: number;
}

export interface PostgresStoreConfig {
  kind: "postgres";
  /** postgres://… with the password: never logged; `redactedUrl` is what messages show. */
  url: string;
  redactedUrl: string;
  poolSize: number;
  statementTimeoutMs: number;
  lockTimeoutMs: number;
  /** The client-side deadline of every statement. */
  queryTimeoutMs: number;
  connectTimeoutMs: number;
  cacheEntries: number;
  listen: boolean;
  /** How recently the LISTEN connection must have echoed a heartbeat for the cache to serve. */
  listenFreshnessMs: number;
  ssl?: { mode: "disable" | "require" | "verify-ca" | "verify-full"; ca?: string | undefined } | undefined;
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
  /**
   * How long a process's lease on a row lasts without renewal; the engine
   * renews it every third of that while it works (`refresh.lease_ttl`).
   */
  leaseTtlMs: number;
  /**
   * How long a token-endpoint request that was written waits for its answer
   * (`refresh.answer_timeout`): far longer than any caller, because a lost
   * answer may hold the only live refresh token (docs/design.md §3 invariant 11).
   */
  answerTimeoutMs: number;
  /**
   * How long a link whose refresh was interrupted (sent, answer never seen)
   * answers REFRESH_INTERRUPTED before it is failed, counted from the send by
   * the store's clock: the window in which the holder of the answer can still
   * commit it (`refresh.interrupted_window`).
   */
  interruptedWindowMs: number;
  /**
   * Links a caller asked for within this long are refreshed in the
   * background ahead of expiry (`refresh.keep_fresh_for`, docs/design.md
   * §3.4); 0 turns refreshing ahead off. Unset (engines built in code
   * without it): off.
   */
  keepFreshForMs?: number;
}

export type { CallerConfig };

/** A TCP listener's certificate files, read at start and again on SIGHUP. */
export interface ListenerTls {
  certFile: string;
  keyFile: string;
  /** Asks clients for a certificate issued by this CA (mTLS); optional for them. */
  clientCaFile?: string | undefined;
}

/** A listener address, with TLS for a TCP one. */
export type Listener = ListenAddress & { tls?: ListenerTls | undefined; allowTokenless?: boolean | undefined };

/** A provider as the daemon runs it: the OAuth client's view plus what only tokenbroker uses. */
export interface ProviderConfig extends OAuthProvider {
  type: ProviderType;
  displayName: string;
  regex?: RegExp | undefined;
  deviceFlow: boolean;
  noRefresh: boolean;
  /**
   * The provider's declared refresh-token reuse grace window (Auth0's
   * rotation overlap, Okta's grace period): how long after a rotation the
   * previous refresh token is still accepted. 0 when none is declared.
   */
  rotationGraceMs: number;
  /**
   * Whether sending a refresh token again after a request whose answer was
   * lost is harmless: the catalog records (or `refresh_token_reuse: rejected`
   * declares) that the provider refuses a reused token without revoking the
   * grant. false (undocumented) means a resend may revoke it.
   */
  resendIsProbe: boolean;
  /**
   * How long the provider's refresh tokens live unused
   * (`refresh_token_idle_lifetime`, or the catalog's documented value):
   * links of such a provider are refreshed before it runs out, in use or
   * not (docs/design.md §3.4). Undefined: they do not die when idle.
   */
  refreshTokenIdleLifetimeMs?: number | undefined;
  /** oidc: the issuer whose discovery document supplies the endpoints. */
  issuer?: string | undefined;
  /**
   * oidc: set until applyDiscovery (src/oauth/discovery.ts) has filled the
   * endpoints from the issuer at startup; `explicit` lists what the operator
   * set and discovery must not replace. tokenUrl is "" while pending.
   */
  pendingDiscovery?: { issuer: string; explicit: readonly DiscoverableField[] } | undefined;
}

/*
 * What parsing yields before any file is read (src/config/check.ts): the
 * config with its secrets and files still named, not read. readConfigFiles
 * (src/config/files.ts) turns it into a Config.
 */

/** A provider before its client secret is read. */
export type ProviderPlan = Omit<ProviderConfig, "clientSecret"> & { clientSecret: SecretSource };

/** The PostgreSQL store before its URL and CA file are read. */
export type PostgresStorePlan = Omit<PostgresStoreConfig, "url" | "redactedUrl" | "ssl"> & {
  url: SecretFile;
  ssl?: { mode: NonNullable<PostgresStoreConfig["ssl"]>["mode"]; caFile?: string | undefined } | undefined;
};

export type ConfigPlan = Omit<Config, "providers" | "store" | "warnings"> & {
  providers: ProviderPlan[];
  store: SqliteStoreConfig | PostgresStorePlan;
};
