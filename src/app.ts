import { AuditLog, type AuditEntry } from "./audit/audit-log.js";
import { AuditFileSink, stdoutSink, type AuditSink } from "./audit/audit-sink.js";
import { AesSealer, Keyring, addSentinels, checkKeyring, loadKeysFrom } from "./crypto/index.js";
import { RefreshEngine } from "./broker/engine.js";
import type { EngineEvents, RefreshOutcome } from "./broker/engine-events.js";
import type { Config, PostgresStoreConfig, ProviderConfig } from "./config/config.js";
import type { Sealer } from "./crypto/index.js";
import { Listeners } from "./listeners/listeners.js";
import { LinkFlows } from "./link/link-flows.js";
import type { Logger } from "./log.js";
import { ProviderRegistry, discoverProviders } from "./providers/index.js";
import { adminService } from "./rpc/admin-service.js";
import { auditObserver, auditRefusal, codeName } from "./rpc/audit-observer.js";
import { CallerSet, callerGuard } from "./rpc/caller-auth.js";
import { callerService } from "./rpc/caller-service.js";
import { reloadCallers } from "./rpc/callers-reload.js";
import { ServingStatus } from "./rpc/health.js";
import { internalErrorLogger } from "./rpc/internal-errors.js";
import { linkService } from "./rpc/link-service.js";
import type { CallObserver } from "./rpc/service.js";
import { tokenService } from "./rpc/token-service.js";
import { WatchStreams } from "./rpc/watch-streams.js";
import { grpcCode } from "./rpc/wire-error.js";
import { KeyRotation } from "./store/key-rotation.js";
import type { PgStore } from "./store/postgres/index.js";
import { openSqliteStore } from "./store/sqlite/index.js";
import type { Store } from "./store/store.js";
import { Metrics } from "./metrics/metrics.js";
import type { OperatorMetricsSources } from "./metrics/operator-metrics.js";
import { VERSION } from "./version.js";
import { oauthCallbackRoute } from "./web/oauth-callback.js";

export interface App {
  listeners: Listeners;
  engine: RefreshEngine;
  store: Store;
  /** SIGHUP: reopen the audit file (logrotate), reload the listeners' certificates and the callers. */
  reload(): void;
  /** Idempotent: the listeners drain, then every part stops, the last started first. */
  stop(): Promise<void>;
}

const FLOW_PURGE_INTERVAL_MS = 60_000;

/**
 * What has started, to stop in reverse: each part registers its stop as it
 * starts, so a failed start and a shutdown take the same path.
 */
class CleanupStack {
  readonly #stops: (() => unknown)[] = [];

  defer(stop: () => unknown): void {
    this.#stops.push(stop);
  }

  async run(): Promise<void> {
    for (let stop = this.#stops.pop(); stop !== undefined; stop = this.#stops.pop()) await stop();
  }
}

/**
 * The composition root: every part of the daemon built once from its config,
 * in the order it starts, its stop on one cleanup stack. The provider
 * registry (after OIDC discovery), then the keys (a wrong key stops here,
 * before anything is written), metrics, the audit trail, the store, the
 * engine, the link flows, the listeners (made before the services, which
 * report their addresses; started after them).
 */
/** `serving`: called once every listener is bound and announced (the "serving" log line), before startApp returns. */
export async function startApp(config: Config, log: Logger, events: { serving?: () => void } = {}): Promise<App> {
  const providers = new ProviderRegistry(await discoverProviders(config.providers, config.refresh.timeoutMs), {
    publicUrl: config.publicUrl,
    refresh: config.refresh,
  });
  const loaded = loadKeysFrom(config.encryption);
  for (const w of loaded.warnings) log.warn({ keys: loaded.path }, w);
  const keyring = new Keyring(loaded.keys);
  const cleanup = new CleanupStack();
  const watches = new WatchStreams(config.watch?.maxStreamsPerCaller);
  const metrics = new Metrics({ providers, watchStreams: () => watches.open });
  try {
    const audit = new AuditLog(openAuditSink(config.auditFile, (err) => {
      metrics.auditSinkError();
      log.error({ err: { code: (err as NodeJS.ErrnoException).code, message: String(err) } }, "audit line not written");
    }, config.logFormat));
    cleanup.defer(() => audit.close());

    const { store, postgres } = await openStore(config.store, new AesSealer(keyring), log);
    cleanup.defer(() => store.close());
    const check = await checkKeyring(keyring, store.keyring);
    await addSentinels(keyring, store.keyring, check.missing, Date.now());
    log.info({ activeKey: keyring.active.id, keys: keyring.keyIds, unknownKeys: check.unknown }, "keyring verified");

    const engine = new RefreshEngine({ store: store.links, providers, settings: config.refresh, log, events: engineEvents(metrics, audit) });
    metrics.watchEngine(engine);
    // In-flight refreshes commit before the store closes (invariant 3).
    // Refreshed tokens the store could not take yet get one more grace period.
    cleanup.defer(() => engine.drain(Date.now() + config.shutdownGraceMs));

    const flows = new LinkFlows({
      store: store.links,
      flows: store.flows,
      providers,
      redirectAllowlist: config.redirectAllowlist,
      timeoutMs: config.refresh.timeoutMs,
      stateTtlMs: config.linkStateTtlMs,
      log,
    });
    const purge = setInterval(() => {
      store.flows.purgeExpiredFlows(Date.now()).catch((err: unknown) => log.warn({ err: { message: String(err) } }, "purging expired link flows failed"));
    }, FLOW_PURGE_INTERVAL_MS).unref();
    cleanup.defer(() => clearInterval(purge));

    const listeners = new Listeners({ listen: config.listen, shutdownGraceMs: config.shutdownGraceMs, log, beforeDrain: () => watches.ended() });
    metrics.watchOperator(operatorSources(store, listeners));
    const startedAt = Date.now();
    const services = [
      tokenService({ engine, providers, defaultMinValidMs: config.refresh.minValidForMs, served: (providerId, expiresAt) => metrics.served(providerId, expiresAt), watch: { streams: watches, store: store.links, audit } }),
      linkService({ providers, engine, store: store.links, flows, audit }),
      adminService({
        providers,
        rotation: new KeyRotation(store.keyring, keyring),
        audit,
        server: () => ({
          version: VERSION,
          startedAt,
          listeners: listeners.urls(),
          store: config.store.kind === "sqlite" ? `sqlite ${config.store.path}` : `postgres ${config.store.redactedUrl}`,
          listenerDetails: listeners.listeners,
          storeProblem: postgres?.health().serving === false ? (postgres.health().problem ?? "unreachable") : undefined,
        }),
      }),
      callerService(store.callerTokens, config.callerTokens, providers),
    ];
    const callers = new CallerSet(config.callers);
    await listeners.start({
      services,
      routes: [oauthCallbackRoute(flows, providers.callbacks, log), metrics.route()],
      hooks: { guard: callerGuard(callers, store.callerTokens), observe: callObservers(metrics, audit, log), refused: auditRefusal(audit) },
    });
    cleanup.defer(() => listeners.stop());
    events.serving?.();
    listeners.health.onShutdown(() => watches.stop());

    if (postgres !== undefined) serveWhileReachable(postgres, listeners, log);

    let stopping: Promise<void> | undefined;
    return {
      listeners,
      engine,
      store,
      reload() {
        audit.reopen();
        listeners.reloadTls();
        reloadCallers(config.source, callers, log);
      },
      stop() {
        stopping ??= cleanup.run().then(() => log.info("stopped"));
        return stopping;
      },
    };
  } catch (err) {
    await cleanup.run();
    throw err;
  }
}

/**
 * A fleet's database that goes away takes this host's ability to serve with
 * it (docs/design.md §4.5). A stale change channel only turns the record
 * cache off (the store's own log says so): still serving.
 */
function serveWhileReachable(postgres: PgStore, listeners: Listeners, log: Logger): void {
  let wasServing = true;
  postgres.onHealth((health) => {
    if (listeners.health.closed || health.serving === wasServing) return;
    wasServing = health.serving;
    listeners.health.setAll(health.serving ? ServingStatus.SERVING : ServingStatus.NOT_SERVING);
    if (health.serving) log.info("the PostgreSQL store is reachable again");
    else log.error({ database: health.database, listener: health.listener, cause: health.problem }, `the PostgreSQL store is unreachable (${health.problem ?? "cause unknown"}): not serving until it is back`);
  });
}

/** The sources of metrics/operator-metrics.ts: build info, links by state, TLS certificate expiry (read when scraped; registered once the store and the listeners exist). */
function operatorSources(store: Store, listeners: Listeners): OperatorMetricsSources {
  return {
    version: VERSION,
    linkStates: async () => {
      const [total, needsRelink] = await Promise.all([store.links.count(), store.links.countNeedingRelink?.() ?? Promise.resolve(0)]);
      return { total, needsRelink };
    },
    tlsCertificates: () => listeners.tlsCertificates(),
  };
}

/** The configured store: the SQLite file, or a fleet's PostgreSQL database. */
async function openStore(config: Config["store"], sealer: Sealer, log: Logger): Promise<{ store: Store; postgres?: PgStore }> {
  if (config.kind === "sqlite") return { store: openSqliteStore({ path: config.path, sealer, cacheEntries: config.cacheEntries }) };
  const pg = config;
  // Imported only for a PostgreSQL store: node-postgres and this store's code
  // are about 50 modules a SQLite daemon would load at every start for nothing.
  const { openPostgresStore } = await import("./store/postgres/index.js");
  try {
    const store = await openPostgresStore({
      url: pg.url,
      sealer,
      poolSize: pg.poolSize,
      statementTimeoutMs: pg.statementTimeoutMs,
      lockTimeoutMs: pg.lockTimeoutMs,
      queryTimeoutMs: pg.queryTimeoutMs,
      connectTimeoutMs: pg.connectTimeoutMs,
      cacheEntries: pg.cacheEntries,
      listen: pg.listen,
      listenFreshnessMs: pg.listenFreshnessMs,
      log,
      ssl: sslOptions(pg.ssl),
    });
    log.info({ database: pg.redactedUrl, poolSize: pg.poolSize }, "PostgreSQL store opened");
    return { store, postgres: store };
  } catch (err) {
    // The driver's message names no password; the URL is shown redacted only.
    throw new Error(`cannot open the PostgreSQL store at ${pg.redactedUrl}: ${err instanceof Error ? err.message : String(err)}`);
  }
}

/** libpq's sslmode names, as node-postgres takes them. */
function sslOptions(ssl: PostgresStoreConfig["ssl"]): false | { ca?: string; rejectUnauthorized: boolean; checkServerIdentity?: () => undefined } | undefined {
  if (ssl === undefined) return undefined;
  const ca = ssl.ca === undefined ? {} : { ca: ssl.ca };
  switch (ssl.mode) {
    case "disable":
      return false;
    case "require":
      return { rejectUnauthorized: false };
    case "verify-ca":
      return { ...ca, rejectUnauthorized: true, checkServerIdentity: () => undefined };
    case "verify-full":
      return { ...ca, rejectUnauthorized: true };
  }
}


function openAuditSink(file: string | undefined, onError: (err: unknown) => void, format: Config["logFormat"] = "json"): AuditSink {
  return file === undefined ? stdoutSink(onError, format) : new AuditFileSink(file, onError);
}

/** Every finished call: counted, logged when it failed inside, and audited. */
function callObservers(metrics: Metrics, audit: AuditLog, log: Logger): CallObserver {
  const logInternal = internalErrorLogger(log);
  const auditCall = auditObserver(audit);
  return (call) => {
    metrics.observe(call);
    logInternal(call);
    return auditCall(call);
  };
}

/** The engine's reports, counted and written to the audit trail. */
function engineEvents(metrics: Metrics, audit: AuditLog): EngineEvents {
  return {
    refreshed(key, outcome, durationMs, cause) {
      metrics.refreshed(key.providerId, outcome);
      audit.action({ event: "refresh", method: "refresh", userId: key.userId, providerId: key.providerId, outcome: refreshOutcome(outcome), providerContacted: true, durationMs }, cause);
    },
    failureRecorded(key, reason, answered, cause) {
      audit.action({
        event: "refresh_failure_recorded",
        method: "refresh",
        userId: key.userId,
        providerId: key.providerId,
        outcome: refreshOutcome(reason),
        providerContacted: answered,
        durationMs: 0,
      }, cause);
    },
    healed(key, cause) {
      metrics.healed(key.providerId);
      audit.action({ event: "refresh_healed", method: "refresh", userId: key.userId, providerId: key.providerId, outcome: refreshOutcome("OK"), providerContacted: false, durationMs: 0 }, cause);
    },
    tokenEndpoint: (providerId, seconds) => metrics.tokenEndpoint(providerId, seconds),
    lockWait: (seconds) => metrics.lockWait(seconds),
    rateLimitRemaining: (providerId, remaining) => metrics.rateLimitRemaining(providerId, remaining),
    refreshedAhead: (key, outcome) => metrics.refreshedAhead(key.providerId, outcome),
  };
}

function refreshOutcome(outcome: RefreshOutcome): AuditEntry["outcome"] {
  if (outcome === "OK") return { grpcCode: "OK", reason: "" };
  if (outcome === "DISCARDED") return { grpcCode: "ABORTED", reason: "DISCARDED" };
  return { grpcCode: codeName(grpcCode(outcome)), reason: outcome };
}

