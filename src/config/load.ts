import { accessSync, constants, readFileSync, statSync } from "node:fs";
import { dirname, isAbsolute, join, resolve } from "node:path";
import { parseDocument } from "yaml";
import type { z } from "zod";
import type { Config, Listener, ProviderConfig, ListenerTls } from "./config.js";
import { parseDuration } from "./duration.js";
import { hostForUrl, isLoopbackHost, parseListenAddress, type ListenAddress } from "../net/listen-address.js";
import { TlsFiles } from "../net/tls-files.js";
import { MAX_TOKEN_LIFETIME_SEC, RESERVED_AUTHORIZE_PARAMS, isAllowedTransport } from "../oauth/index.js";
import { MAX_ROTATION_GRACE_MS, catalogDefaults } from "./catalog-defaults.js";
import { resolveAllowTokenless, resolveCallerTokens, resolveCallers } from "./callers.js";
import { canonicalType, configSchema, type ProviderInput } from "./schema.js";

type ConfigInput = z.infer<typeof configSchema>;

const MIN_LEASE_TTL_MS = 1000;
/** A written refresh request is waited for this long at most; its lease is renewed meanwhile. */
const MAX_ANSWER_TIMEOUT_MS = 3_600_000;
/** An interrupted link fails within a week at the latest: longer only hides a lost link. */
const MAX_INTERRUPTED_WINDOW_MS = 7 * 86_400_000;
/** Where systemd's StateDirectory= puts a system service's state. */
const STATE_DIRECTORY_ROOT = "/var/lib";
const MAX_LEASE_TTL_MS = 10 * 60_000;
/** store.postgres.query_timeout's default: statement_timeout plus this. */
const QUERY_TIMEOUT_MARGIN_MS = 1000;
/** A heartbeat every third of listen_freshness: below this it would be mostly heartbeats. */
const MIN_LISTEN_FRESHNESS_MS = 300;

/** Raised for any problem with the configuration; the CLI exits 2 with it. */
export class ConfigError extends Error {
  override readonly name = "ConfigError";
  constructor(
    readonly source: string,
    readonly problems: string[],
  ) {
    super(`invalid configuration ${source}:\n${problems.map((p) => `  ${p}`).join("\n")}`);
  }
}

export interface LoadOptions {
  env?: NodeJS.ProcessEnv;
}

export function loadConfigFile(path: string, opts: LoadOptions = {}): Config {
  let text: string;
  try {
    text = readFileSync(path, "utf8");
  } catch (err) {
    throw new ConfigError(path, [`cannot read config file: ${(err as NodeJS.ErrnoException).code ?? String(err)}`]);
  }
  return parseConfig(text, path, opts);
}

export function parseConfig(text: string, source: string, opts: LoadOptions = {}): Config {
  const doc = parseDocument(text, { prettyErrors: true });
  if (doc.errors.length > 0) {
    throw new ConfigError(
      source,
      doc.errors.map((e) => {
        const where = e.linePos?.[0] ? ` line ${e.linePos[0].line}` : "";
        return `YAML${where}: ${(e.message.split("\n")[0] ?? "").replace(/ at line \d+, column \d+:?$/, "")}`;
      }),
    );
  }
  const raw: unknown = doc.toJS() ?? {};
  return resolveConfig(raw, source, opts);
}

/** Validates an already-parsed object (YAML or built in code, as dev mode does). */
export function resolveConfig(raw: unknown, source: string, opts: LoadOptions = {}): Config {
  const parsed = configSchema.safeParse(raw);
  if (!parsed.success) throw new ConfigError(source, parsed.error.issues.flatMap(branchIssues).map(formatIssue));
  const input = parsed.data;
  const baseDir = source.startsWith("<") ? process.cwd() : dirname(resolve(source));
  const problems: string[] = [];
  const env = opts.env ?? process.env;

  const providers: ProviderConfig[] = [];
  const seen = new Map<string, number>();
  input.providers.forEach((p, i) => {
    const where = `providers[${i}]`;
    const previous = seen.get(p.id);
    if (previous !== undefined) problems.push(`${where}.id: duplicate id "${p.id}" (also providers[${previous}])`);
    seen.set(p.id, i);
    const resolved = resolveProvider(p, where, baseDir, env, problems);
    if (resolved !== undefined) providers.push(resolved);
  });

  const listenGrpc = input.listen.grpc.map((l, i) => resolveListener(l, `listen.grpc[${i}]`, baseDir, problems));
  const listenHttp = input.listen.http === undefined ? undefined : resolveListener(input.listen.http, "listen.http", baseDir, problems);
  if (listenGrpc.length === 0 && listenHttp === undefined) problems.push("listen: no listener configured (set listen.grpc or listen.http)");

  const warnings: string[] = [];
  const store = resolveStore(input.store, baseDir, env, problems, warnings);

  const ms = (s: string): number => parseDuration(s) as number;
  const refresh = {
    minValidForMs: ms(input.refresh.min_valid_for),
    timeoutMs: ms(input.refresh.timeout),
    initialBackoffMs: ms(input.refresh.initial_backoff),
    maxBackoffMs: ms(input.refresh.max_backoff),
    budgetMs: ms(input.refresh.retry_budget),
    providerConcurrency: input.refresh.provider_concurrency,
    validate: input.refresh.validate,
    misconfiguredBackoffMs: ms(input.refresh.misconfigured_backoff),
    leaseTtlMs: ms(input.refresh.lease_ttl),
    answerTimeoutMs: ms(input.refresh.answer_timeout),
    interruptedWindowMs: ms(input.refresh.interrupted_window),
  };
  if (refresh.timeoutMs <= 0) problems.push("refresh.timeout: must be greater than 0");
  if (refresh.leaseTtlMs < MIN_LEASE_TTL_MS) problems.push("refresh.lease_ttl: must be at least 1s");
  if (refresh.leaseTtlMs > MAX_LEASE_TTL_MS) problems.push("refresh.lease_ttl: must be at most 10m");
  if (refresh.answerTimeoutMs < refresh.timeoutMs) problems.push("refresh.answer_timeout: must be at least refresh.timeout");
  if (refresh.answerTimeoutMs > MAX_ANSWER_TIMEOUT_MS) problems.push("refresh.answer_timeout: must be at most 1h");
  if (refresh.interruptedWindowMs > MAX_INTERRUPTED_WINDOW_MS) problems.push("refresh.interrupted_window: must be at most 7d");
  if (refresh.initialBackoffMs > refresh.maxBackoffMs) problems.push("refresh.initial_backoff: must not exceed refresh.max_backoff");

  const publicUrl = input.public_url ?? (listenHttp?.kind === "tcp" ? `${listenHttp.tls !== undefined ? "https" : "http"}://${hostForUrl(listenHttp.host)}:${listenHttp.port}` : "http://127.0.0.1:7481");

  if (problems.length > 0) throw new ConfigError(source, problems);
  return {
    source,
    listen: { grpc: listenGrpc, http: listenHttp },
    publicUrl: publicUrl.replace(/\/+$/, ""),
    redirectAllowlist: input.redirect_allowlist,
    linkStateTtlMs: ms(input.link_state_ttl),
    store,
    encryption: {
      keysFile: input.encryption.keys_file === undefined ? undefined : resolvePath(baseDir, input.encryption.keys_file),
      keysCredential: input.encryption.keys_credential,
    },
    refresh,
    shutdownGraceMs: ms(input.shutdown_grace),
    logLevel: input.log.level,
    auditFile: input.audit.file === undefined ? undefined : resolvePath(baseDir, input.audit.file),
    callers: resolveCallers(input.callers),
    callerTokens: resolveCallerTokens(input.caller_tokens),
    providers,
    warnings,
  };
}

function resolveProvider(
  p: ProviderInput,
  where: string,
  baseDir: string,
  env: NodeJS.ProcessEnv,
  problems: string[],
): ProviderConfig | undefined {
  const type = canonicalType(p.type);
  const defaults = catalogDefaults(type, { authUrl: p.auth_url, apiBaseUrl: p.api_base_url, clientId: p.client_id });
  if (defaults === undefined) {
    // Self-hosted only (bitbucket-server, jfrog): nothing to derive URLs from.
    problems.push(`${where}.auth_url: required for type ${p.type} (self-hosted; the other URLs are derived from its host)`);
    return undefined;
  }
  const before = problems.length;

  // oidc: endpoints come from the issuer at startup, except those set here.
  const discover = defaults.discovery && p.issuer !== undefined;
  if (p.issuer !== undefined && !defaults.discovery) problems.push(`${where}.issuer: only used by type oidc`);
  if (defaults.discovery && p.issuer === undefined && p.token_url === undefined) {
    problems.push(`${where}.issuer: required for type ${p.type} (or set token_url and auth_url)`);
  }
  const tokenUrl = p.token_url ?? defaults.tokenUrl ?? (discover ? "" : undefined);
  if (tokenUrl === undefined && !defaults.discovery) problems.push(`${where}.token_url: required for type ${p.type}`);

  const clientSecret = resolveClientSecret(p, where, baseDir, env, problems);

  let regex: RegExp | undefined;
  if (p.regex !== undefined) {
    try {
      regex = new RegExp(p.regex);
    } catch (err) {
      problems.push(`${where}.regex: not a valid regular expression (${(err as Error).message})`);
    }
  } else if (defaults.regex !== undefined) {
    regex = new RegExp(defaults.regex, "i"); // host names are case-insensitive
  }

  const pkceMethods = p.pkce_methods ?? defaults.pkceMethods;
  if (pkceMethods.length === 0) problems.push(`${where}.pkce_methods: must list at least one method (use [none] to opt out)`);
  if (pkceMethods.includes("none") && pkceMethods.length > 1) {
    problems.push(`${where}.pkce_methods: "none" cannot be combined with other methods`);
  }

  const deviceCodeUrl = p.device_code_url ?? defaults.deviceCodeUrl;
  const deviceFlow = p.device_flow ?? false;
  if (deviceFlow && deviceCodeUrl === undefined && !discover) {
    const why = defaults.deviceFlowSupported ? "" : ` (type ${p.type} has no device authorization endpoint)`;
    problems.push(`${where}.device_flow: needs device_code_url${why}`);
  }

  const rotationGraceMs = p.rotation_grace === undefined ? defaults.rotationGraceMs : (parseDuration(p.rotation_grace) as number);
  if (rotationGraceMs > MAX_ROTATION_GRACE_MS) problems.push(`${where}.rotation_grace: must be at most 1h`);
  const defaultTokenLifetimeSec = p.default_token_lifetime === undefined ? undefined : Math.ceil((parseDuration(p.default_token_lifetime) as number) / 1000);
  if (defaultTokenLifetimeSec !== undefined && defaultTokenLifetimeSec < 1) problems.push(`${where}.default_token_lifetime: must be at least 1s`);
  if (defaultTokenLifetimeSec !== undefined && defaultTokenLifetimeSec > MAX_TOKEN_LIFETIME_SEC) problems.push(`${where}.default_token_lifetime: must be at most 10 years (87600h)`);

  const scopes = p.scopes ?? defaults.scopes;
  const authUrlParams = { ...p.auth_url_params };
  for (const key of Object.keys(authUrlParams)) {
    if (RESERVED_AUTHORIZE_PARAMS.has(key)) {
      problems.push(`${where}.auth_url_params.${key}: set by tokenbroker on every authorize URL and cannot be overridden`);
    }
  }
  // OpenID Connect Core §11: without prompt=consent a provider ignores offline_access, and issues no refresh token.
  if (defaults.consentForOfflineAccess && scopes.includes("offline_access") && authUrlParams.prompt === undefined) authUrlParams.prompt = "consent";
  const scopeParam = defaults.requiresScope?.orParam;
  if (scopeParam !== undefined && scopes.length === 0 && (authUrlParams[scopeParam] ?? "") === "") {
    problems.push(`${where}.scopes: type ${p.type} needs at least one scope (or auth_url_params.${scopeParam}); its authorize endpoint refuses a request for none`);
  }

  const urls = {
    auth_url: p.auth_url ?? defaults.authUrl,
    token_url: tokenUrl === "" ? undefined : tokenUrl,
    validate_url: p.validate_url ?? defaults.validateUrl,
    revoke_url: p.revoke_url ?? defaults.revokeUrl,
    device_code_url: deviceCodeUrl,
    api_base_url: p.api_base_url ?? defaults.apiBaseUrl,
    issuer: p.issuer,
  };
  for (const [field, value] of Object.entries(urls)) {
    // A client secret, code or token must never cross the network in clear.
    if (value !== undefined && !isAllowedTransport(value)) problems.push(`${where}.${field}: http is only allowed on loopback hosts; use https`);
  }

  if (problems.length > before || tokenUrl === undefined) return undefined;

  // An explicit revoke_url makes RFC 7009 revocation possible where the type has none.
  let revocation = defaults.revocation;
  if (revocation === "none" && p.revoke_url !== undefined) revocation = "rfc7009";
  if (revocation === "rfc7009" && urls.revoke_url === undefined && !discover) revocation = "none";

  const resolved: ProviderConfig = {
    id: p.id,
    type,
    displayName: p.display_name ?? defaults.displayName,
    clientId: p.client_id,
    clientSecret,
    authUrl: urls.auth_url,
    tokenUrl,
    validateUrl: urls.validate_url,
    revokeUrl: urls.revoke_url,
    deviceCodeUrl,
    apiBaseUrl: urls.api_base_url,
    scopes,
    extraTokenKeys: p.extra_token_keys ?? defaults.extraTokenKeys,
    regex,
    pkceMethods,
    deviceFlow,
    noRefresh: p.no_refresh ?? false,
    rotationGraceMs,
    resendIsProbe: p.refresh_token_reuse === undefined ? defaults.resendIsProbe : p.refresh_token_reuse === "rejected",
    tokenAuthMethod: p.token_auth_method ?? defaults.tokenAuthMethod,
    authUrlParams,
    revocation,
    quirks: defaults.quirks,
  };
  if (defaults.scopeOnRefresh) resolved.scopeOnRefresh = true;
  if (defaultTokenLifetimeSec !== undefined) resolved.defaultTokenLifetimeSec = defaultTokenLifetimeSec;
  if (p.issuer !== undefined) resolved.issuer = p.issuer;
  if (discover && p.issuer !== undefined) {
    const explicit: NonNullable<ProviderConfig["pendingDiscovery"]>["explicit"][number][] = [];
    if (p.auth_url !== undefined) explicit.push("authUrl");
    if (p.token_url !== undefined) explicit.push("tokenUrl");
    if (p.revoke_url !== undefined) explicit.push("revokeUrl");
    if (p.device_code_url !== undefined) explicit.push("deviceCodeUrl");
    if (p.validate_url !== undefined) explicit.push("validateUrl");
    if (p.pkce_methods !== undefined) explicit.push("pkceMethods");
    if (p.token_auth_method !== undefined) explicit.push("tokenAuthMethod");
    resolved.pendingDiscovery = { issuer: p.issuer, explicit };
  }
  return resolved;
}

function resolveClientSecret(p: ProviderInput, where: string, baseDir: string, env: NodeJS.ProcessEnv, problems: string[]): string {
  const secretSources = [p.client_secret, p.client_secret_file, p.client_secret_credential].filter((s) => s !== undefined);
  if (secretSources.length > 1) problems.push(`${where}: set only one of client_secret, client_secret_file, client_secret_credential`);
  let clientSecret = p.client_secret ?? "";
  if (p.client_secret_file !== undefined) {
    const file = resolvePath(baseDir, p.client_secret_file);
    try {
      clientSecret = readFileSync(file, "utf8").trim();
    } catch (err) {
      problems.push(`${where}.client_secret_file: cannot read ${file} (${(err as NodeJS.ErrnoException).code ?? "error"})`);
    }
  }
  if (p.client_secret_credential !== undefined) {
    const dir = env.CREDENTIALS_DIRECTORY;
    if (dir === undefined || dir === "") {
      problems.push(`${where}.client_secret_credential: CREDENTIALS_DIRECTORY is not set (not running under systemd with LoadCredential)`);
    } else {
      try {
        clientSecret = readFileSync(join(dir, p.client_secret_credential), "utf8").trim();
      } catch (err) {
        problems.push(`${where}.client_secret_credential: cannot read credential ${p.client_secret_credential} (${(err as NodeJS.ErrnoException).code ?? "error"})`);
      }
    }
  }
  return clientSecret;
}

function resolveStore(input: ConfigInput["store"], baseDir: string, env: NodeJS.ProcessEnv, problems: string[], warnings: string[]): Config["store"] {
  if (input.sqlite !== undefined) {
    const path = resolvePath(baseDir, input.sqlite.path);
    const storeDir = dirname(path);
    if (!isDirectory(storeDir)) {
      // StateDirectory=tokenbroker (deploy/systemd) creates /var/lib/tokenbroker as the service starts.
      if (isUnder(storeDir, STATE_DIRECTORY_ROOT)) warnings.push(`store.sqlite.path: directory ${storeDir} does not exist yet; systemd creates it at start for StateDirectory=${storeDir.slice(STATE_DIRECTORY_ROOT.length + 1)}`);
      else problems.push(`store.sqlite.path: directory ${storeDir} does not exist`);
    }
    return { sqlite: { path, cacheEntries: input.sqlite.cache_entries } };
  }
  const pg = input.postgres;
  if (pg === undefined) return {};
  const ms = (s: string): number => parseDuration(s) as number;
  let url = "";
  if (pg.url_file !== undefined) {
    const file = resolvePath(baseDir, pg.url_file);
    try {
      url = readFileSync(file, "utf8").trim();
    } catch (err) {
      problems.push(`store.postgres.url_file: cannot read ${file} (${(err as NodeJS.ErrnoException).code ?? "error"})`);
    }
  } else if (pg.url_credential !== undefined) {
    const dir = env.CREDENTIALS_DIRECTORY;
    if (dir === undefined || dir === "") problems.push("store.postgres.url_credential: CREDENTIALS_DIRECTORY is not set (not running under systemd with LoadCredential)");
    else {
      try {
        url = readFileSync(join(dir, pg.url_credential), "utf8").trim();
      } catch (err) {
        problems.push(`store.postgres.url_credential: cannot read credential ${pg.url_credential} (${(err as NodeJS.ErrnoException).code ?? "error"})`);
      }
    }
  }
  const redactedUrl = redactUrl(url);
  if (url !== "" && (!URL.canParse(url) || !/^postgres(ql)?:$/.test(new URL(url).protocol))) {
    problems.push(`store.postgres: the URL read is not a postgres:// URL (${redactedUrl})`);
  }
  let ssl: NonNullable<Config["store"]["postgres"]>["ssl"];
  if (pg.ssl !== undefined) {
    ssl = { mode: pg.ssl.mode };
    if (pg.ssl.ca_file !== undefined) {
      const file = resolvePath(baseDir, pg.ssl.ca_file);
      try {
        ssl.ca = readFileSync(file, "utf8");
      } catch (err) {
        problems.push(`store.postgres.ssl.ca_file: cannot read ${file} (${(err as NodeJS.ErrnoException).code ?? "error"})`);
      }
    }
    if ((pg.ssl.mode === "verify-ca" || pg.ssl.mode === "verify-full") && pg.ssl.ca_file === undefined) {
      problems.push(`store.postgres.ssl.ca_file: needed for mode ${pg.ssl.mode}`);
    }
  }
  const statementTimeoutMs = ms(pg.statement_timeout);
  const lockTimeoutMs = ms(pg.lock_timeout);
  // The server's own deadline should answer first: the client's only ends a connection gone silent.
  const queryTimeoutMs = pg.query_timeout === undefined ? statementTimeoutMs + QUERY_TIMEOUT_MARGIN_MS : ms(pg.query_timeout);
  const connectTimeoutMs = ms(pg.connect_timeout);
  const listenFreshnessMs = ms(pg.listen_freshness);
  if (statementTimeoutMs <= 0) problems.push("store.postgres.statement_timeout: must be greater than 0");
  if (lockTimeoutMs <= 0) problems.push("store.postgres.lock_timeout: must be greater than 0");
  if (queryTimeoutMs <= statementTimeoutMs) {
    problems.push(`store.postgres.query_timeout: must be longer than statement_timeout (${pg.statement_timeout}), so a server that is there answers first`);
  }
  if (connectTimeoutMs <= 0) problems.push("store.postgres.connect_timeout: must be greater than 0");
  if (listenFreshnessMs < MIN_LISTEN_FRESHNESS_MS) problems.push(`store.postgres.listen_freshness: must be at least ${MIN_LISTEN_FRESHNESS_MS}ms (a heartbeat goes out every third of it)`);
  return {
    postgres: {
      url,
      redactedUrl,
      poolSize: pg.pool_size,
      statementTimeoutMs,
      lockTimeoutMs,
      queryTimeoutMs,
      connectTimeoutMs,
      cacheEntries: pg.cache_entries,
      listen: pg.listen,
      listenFreshnessMs,
      ...(ssl === undefined ? {} : { ssl }),
    },
  };
}

/**
 * A database URL fit for a message: the password replaced, whatever else
 * it holds (a `password=` query parameter included); an unparsable one is
 * not shown at all.
 */
export function redactUrl(url: string): string {
  if (!URL.canParse(url)) return "<unparsable URL>";
  const u = new URL(url);
  if (u.password !== "") u.password = "redacted";
  for (const key of [...u.searchParams.keys()]) if (/pass/i.test(key)) u.searchParams.set(key, "redacted");
  return u.toString();
}

/**
 * A listener with its TLS files resolved. Without TLS a TCP listener stays
 * on loopback: beyond it, tokens would cross the network in clear.
 */
function resolveListener(input: ConfigInput["listen"]["grpc"][number], where: string, baseDir: string, problems: string[]): Listener {
  const parsed = resolveListen(parseListenAddress(typeof input === "string" ? input : input.address) as ListenAddress, baseDir);
  const addr = { ...parsed, ...resolveAllowTokenless(parsed.kind, input, where, problems) };
  if (typeof input === "string" || input.tls === undefined || addr.kind === "unix") {
    if (typeof input !== "string" && input.tls !== undefined) problems.push(`${where}.tls: only for tcp:// listeners (a Unix socket's file mode decides who connects)`);
    if (addr.kind === "tcp" && !isLoopbackHost(addr.host)) problems.push(`${where}: ${addr.host} is not a loopback address; a listener beyond loopback needs tls (cert_file, key_file)`);
    return addr;
  }
  const tls: ListenerTls = { certFile: resolvePath(baseDir, input.tls.cert_file), keyFile: resolvePath(baseDir, input.tls.key_file) };
  if (input.tls.client_ca_file !== undefined) tls.clientCaFile = resolvePath(baseDir, input.tls.client_ca_file);
  const unreadable = ([["cert_file", tls.certFile], ["key_file", tls.keyFile], ["client_ca_file", tls.clientCaFile]] as const).filter(([, file]) => file !== undefined && !isReadable(file));
  for (const [field, file] of unreadable) problems.push(`${where}.tls.${field}: cannot read ${file}`);
  if (unreadable.length === 0) {
    // What serve would refuse at start: PEM that does not parse, a key of another certificate.
    try {
      new TlsFiles(tls);
    } catch (err) {
      problems.push(`${where}.tls: ${(err as Error).message}`);
    }
  }
  return { ...addr, tls };
}

function isReadable(path: string): boolean {
  try {
    accessSync(path, constants.R_OK);
    return statSync(path).isFile();
  } catch {
    return false;
  }
}

function resolveListen(addr: ListenAddress, baseDir: string): ListenAddress {
  if (addr.kind !== "unix") return addr;
  const path = resolvePath(baseDir, addr.path);
  return { kind: "unix", path, url: `unix://${path}` };
}

function resolvePath(baseDir: string, p: string): string {
  return isAbsolute(p) ? p : join(baseDir, p);
}

function isUnder(path: string, root: string): boolean {
  return path.startsWith(`${root}/`) && !path.split("/").includes("..");
}

function isDirectory(path: string): boolean {
  try {
    return statSync(path).isDirectory();
  } catch {
    return false;
  }
}

/**
 * A union none of whose branches took the input is reported through the
 * branch of the input's type (a listener's string or object form), with that
 * branch's own paths; when no branch fits the type, the union's own message.
 */
function branchIssues(issue: z.core.$ZodIssue): z.core.$ZodIssue[] {
  if (issue.code !== "invalid_union") return [issue];
  const branch = issue.errors.find((b) => !b.some((i) => i.code === "invalid_type" && i.path.length === 0));
  if (branch === undefined) return [issue];
  return branch.flatMap((i) => branchIssues({ ...i, path: [...issue.path, ...i.path] } as z.core.$ZodIssue));
}

/** `providers[2].token_url: not an http(s) URL` */
function formatIssue(issue: z.core.$ZodIssue): string {
  const path = issue.path.reduce<string>((acc, seg) => (typeof seg === "number" ? `${acc}[${seg}]` : acc === "" ? String(seg) : `${acc}.${String(seg)}`), "");
  let message = issue.message;
  if (issue.code === "unrecognized_keys") message = `unknown field${issue.keys.length > 1 ? "s" : ""} ${issue.keys.map((k) => `"${k}"`).join(", ")}`;
  if (issue.code === "invalid_type" && message.includes("received undefined")) message = "required";
  return `${path === "" ? "(top level)" : path}: ${message}`;
}

