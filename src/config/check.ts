import type { ConfigPlan, Listener, PostgresStorePlan, ProviderPlan } from "./config.js";
import { resolveAllowTokenless, resolveCallerTokens, resolveCallers } from "./callers.js";
import { hostForUrl, isLoopbackHost } from "../listen/listen-address.js";
import { planProvider } from "./provider-config.js";
import type { ConfigInput } from "./schema.js";

const MIN_LEASE_TTL_MS = 1000;
const MAX_LEASE_TTL_MS = 10 * 60_000;
/** A written refresh request is waited for this long at most; its lease is renewed meanwhile. */
const MAX_ANSWER_TIMEOUT_MS = 3_600_000;
/** An interrupted link fails within a week at the latest: longer only hides a lost link. */
const MAX_INTERRUPTED_WINDOW_MS = 7 * 86_400_000;
/** store.postgres.query_timeout's default: statement_timeout plus this. */
const QUERY_TIMEOUT_MARGIN_MS = 1000;
/** A heartbeat every third of listen_freshness: below this it would be mostly heartbeats. */
const MIN_LISTEN_FRESHNESS_MS = 300;

/**
 * What the schema cannot say about one field alone: limits, fields that
 * depend on each other, the provider catalog applied. Pure: no file is read
 * (readConfigFiles does that after it). Every problem is collected.
 */
export function checkConfig(input: ConfigInput, source: string): { plan: ConfigPlan; problems: string[] } {
  const problems: string[] = [];

  const providers: ProviderPlan[] = [];
  const seen = new Map<string, number>();
  input.providers.forEach((p, i) => {
    const where = `providers[${i}]`;
    const previous = seen.get(p.id);
    if (previous !== undefined) problems.push(`${where}.id: duplicate id "${p.id}" (also providers[${previous}])`);
    seen.set(p.id, i);
    const provider = planProvider(p, where);
    problems.push(...provider.problems);
    if (provider.plan !== undefined) providers.push(provider.plan);
  });

  const listenGrpc = input.listen.grpc.map((l, i) => checkListener(l, `listen.grpc[${i}]`, problems));
  const listenHttp = input.listen.http === undefined ? undefined : checkListener(input.listen.http, "listen.http", problems);
  if (listenGrpc.length === 0 && listenHttp === undefined) problems.push("listen: no listener configured (set listen.grpc or listen.http)");

  const store = input.store.kind === "sqlite" ? { kind: "sqlite" as const, path: input.store.path, cacheEntries: input.store.cache_entries } : checkPostgres(input.store, problems);

  const r = input.refresh;
  const refresh = {
    minValidForMs: r.min_valid_for,
    timeoutMs: r.timeout,
    initialBackoffMs: r.initial_backoff,
    maxBackoffMs: r.max_backoff,
    budgetMs: r.retry_budget,
    providerConcurrency: r.provider_concurrency,
    validate: r.validate,
    misconfiguredBackoffMs: r.misconfigured_backoff,
    leaseTtlMs: r.lease_ttl,
    answerTimeoutMs: r.answer_timeout,
    interruptedWindowMs: r.interrupted_window,
    keepFreshForMs: r.keep_fresh_for,
  };
  if (refresh.timeoutMs <= 0) problems.push("refresh.timeout: must be greater than 0");
  if (refresh.leaseTtlMs < MIN_LEASE_TTL_MS) problems.push("refresh.lease_ttl: must be at least 1s");
  if (refresh.leaseTtlMs > MAX_LEASE_TTL_MS) problems.push("refresh.lease_ttl: must be at most 10m");
  if (refresh.answerTimeoutMs < refresh.timeoutMs) problems.push("refresh.answer_timeout: must be at least refresh.timeout");
  if (refresh.answerTimeoutMs > MAX_ANSWER_TIMEOUT_MS) problems.push("refresh.answer_timeout: must be at most 1h");
  if (refresh.interruptedWindowMs > MAX_INTERRUPTED_WINDOW_MS) problems.push("refresh.interrupted_window: must be at most 7d");
  if (refresh.initialBackoffMs > refresh.maxBackoffMs) problems.push("refresh.initial_backoff: must not exceed refresh.max_backoff");

  const publicUrl = input.public_url ?? (listenHttp?.kind === "tcp" ? `${listenHttp.tls !== undefined ? "https" : "http"}://${hostForUrl(listenHttp.host)}:${listenHttp.port}` : "http://127.0.0.1:7481");

  const plan: ConfigPlan = {
    source,
    listen: { grpc: listenGrpc, http: listenHttp },
    publicUrl: publicUrl.replace(/\/+$/, ""),
    redirectAllowlist: input.redirect_allowlist,
    linkStateTtlMs: input.link_state_ttl,
    store,
    encryption: input.encryption,
    refresh,
    shutdownGraceMs: input.shutdown_grace,
    watch: { maxStreamsPerCaller: input.watch.max_streams_per_caller },
    logLevel: input.log.level,
    logFormat: input.log.format,
    auditFile: input.audit.file,
    callers: resolveCallers(input.callers),
    callerTokens: resolveCallerTokens(input.caller_tokens),
    providers,
  };
  return { plan, problems };
}

function checkPostgres(pg: Extract<ConfigInput["store"], { kind: "postgres" }>, problems: string[]): PostgresStorePlan {
  if (pg.ssl !== undefined && (pg.ssl.mode === "verify-ca" || pg.ssl.mode === "verify-full") && pg.ssl.ca_file === undefined) {
    problems.push(`store.postgres.ssl.ca_file: needed for mode ${pg.ssl.mode}`);
  }
  // The server's own deadline should answer first: the client's only ends a connection gone silent.
  const queryTimeoutMs = pg.query_timeout ?? pg.statement_timeout + QUERY_TIMEOUT_MARGIN_MS;
  if (pg.statement_timeout <= 0) problems.push("store.postgres.statement_timeout: must be greater than 0");
  if (pg.lock_timeout <= 0) problems.push("store.postgres.lock_timeout: must be greater than 0");
  if (queryTimeoutMs <= pg.statement_timeout) {
    problems.push(`store.postgres.query_timeout: must be longer than statement_timeout (${formatMs(pg.statement_timeout)}), so a server that is there answers first`);
  }
  if (pg.connect_timeout <= 0) problems.push("store.postgres.connect_timeout: must be greater than 0");
  if (pg.listen_freshness < MIN_LISTEN_FRESHNESS_MS) problems.push(`store.postgres.listen_freshness: must be at least ${MIN_LISTEN_FRESHNESS_MS}ms (a heartbeat goes out every third of it)`);
  return {
    kind: "postgres",
    url: pg.url,
    poolSize: pg.pool_size,
    statementTimeoutMs: pg.statement_timeout,
    lockTimeoutMs: pg.lock_timeout,
    queryTimeoutMs,
    connectTimeoutMs: pg.connect_timeout,
    cacheEntries: pg.cache_entries,
    listen: pg.listen,
    listenFreshnessMs: pg.listen_freshness,
    ...(pg.ssl === undefined ? {} : { ssl: { mode: pg.ssl.mode, ...(pg.ssl.ca_file === undefined ? {} : { caFile: pg.ssl.ca_file }) } }),
  };
}

/**
 * A listener with its TLS files named. Without TLS a TCP listener stays on
 * loopback: beyond it, tokens would cross the network in clear.
 */
function checkListener(input: ConfigInput["listen"]["grpc"][number], where: string, problems: string[]): Listener {
  const parsed = "address" in input ? input.address : input;
  const addr = { ...parsed, ...resolveAllowTokenless(parsed.kind, input, where, problems) };
  const tlsInput = "address" in input ? input.tls : undefined;
  if (tlsInput === undefined || addr.kind === "unix") {
    if (tlsInput !== undefined) problems.push(`${where}.tls: only for tcp:// listeners (a Unix socket's file mode decides who connects)`);
    if (addr.kind === "tcp" && !isLoopbackHost(addr.host)) problems.push(`${where}: ${addr.host} is not a loopback address; a listener beyond loopback needs tls (cert_file, key_file)`);
    return addr;
  }
  const { cert_file: certFile, key_file: keyFile, client_ca_file: clientCaFile } = tlsInput;
  return { ...addr, tls: { certFile, keyFile, ...(clientCaFile === undefined ? {} : { clientCaFile }) } };
}

/** A duration as an operator would write it back: 5s, 1500ms. */
function formatMs(ms: number): string {
  return ms % 1000 === 0 ? `${ms / 1000}s` : `${ms}ms`;
}
