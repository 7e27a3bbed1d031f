import { AuditLog, type AuditEntry } from "./audit/audit-log.js";
import { AuditFileSink, stdoutSink, type AuditSink } from "./audit/audit-sink.js";
import { AesSealer, Keyring, addSentinels, checkKeyring, loadKeys } from "./crypto/index.js";
import { RefreshEngine } from "./broker/engine.js";
import type { EngineEvents, RefreshOutcome } from "./broker/engine-events.js";
import type { Config, PostgresStoreConfig, ProviderConfig } from "./config/config.js";
import type { Sealer } from "./crypto/index.js";
import { startDaemon, type Daemon } from "./daemon.js";
import { LinkFlows } from "./link/link-flows.js";
import type { Logger } from "./log.js";
import { applyDiscovery, discoverOidc } from "./oauth/index.js";
import { ProviderRegistry } from "./providers/registry.js";
import { adminService } from "./rpc/admin-service.js";
import { auditObserver, codeName } from "./rpc/audit-observer.js";
import { callerGuard } from "./rpc/caller-auth.js";
import { callerService } from "./rpc/caller-service.js";
import { ServingStatus } from "./rpc/health.js";
import { internalErrorLogger } from "./rpc/internal-errors.js";
import { linkService } from "./rpc/link-service.js";
import { tokenService } from "./rpc/token-service.js";
import { grpcCode } from "./rpc/wire-error.js";
import { KeyRotation } from "./store/key-rotation.js";
import { openPostgresStore, type PgStore } from "./store/postgres/index.js";
import { openSqliteStore } from "./store/sqlite/index.js";
import type { Store } from "./store/store.js";
import { Metrics } from "./web/metrics.js";
import { VERSION } from "./cli/version.js";
import { oauthCallbackRoute } from "./web/oauth-callback.js";

export interface App {
  daemon: Daemon;
  engine: RefreshEngine;
  store: Store;
  /** SIGHUP: reopen the audit file (logrotate), reload the listeners' certificates. */
  reload(): void;
}

const FLOW_PURGE_INTERVAL_MS = 60_000;

/**
 * Everything the daemon runs, built once from a validated config: the
 * provider registry (after OIDC discovery), then the keys (a wrong key stops
 * here, before anything is written), the store, the engine, the services and
 * the listeners.
 */
export async function startApp(config: Config, log: Logger): Promise<App> {
  const providers = new ProviderRegistry(await discoverProviders(config.providers, config.refresh.timeoutMs), {
    publicUrl: config.publicUrl,
    refresh: config.refresh,
  });
  const { keysFile, keysCredential } = config.encryption;
  const loaded = loadKeys({ ...(keysFile !== undefined ? { keysFile } : {}), ...(keysCredential !== undefined ? { keysCredential } : {}) });
  for (const w of loaded.warnings) log.warn({ keys: loaded.path }, w);
  const keyring = new Keyring(loaded.keys);
  // Before the engine, which reports to both; the gauges read the engine only when scraped.
  const metrics = new Metrics({ lockCount: () => engine.lockCount, pendingCommits: () => engine.pendingCommits, providers });
  const audit = new AuditLog(openAuditSink(config.auditFile, (err) => {
    metrics.auditSinkError();
    log.error({ err: { code: (err as NodeJS.ErrnoException).code, message: String(err) } }, "audit line not written");
  }));
  const { store, postgres } = await openStore(config.store, new AesSealer(keyring), log);
  let engine: RefreshEngine;
  try {
    const check = await checkKeyring(keyring, store.keyring);
    await addSentinels(keyring, store.keyring, check.missing, Date.now());
    log.info({ activeKey: keyring.active.id, keys: keyring.keyIds, unknownKeys: check.unknown }, "keyring verified");
    engine = new RefreshEngine({ store: store.links, providers, settings: config.refresh, log, events: engineEvents(metrics, audit) });
  } catch (err) {
    await store.close();
    audit.close();
    throw err;
  }
  const flows = new LinkFlows({
    store: store.links,
    flows: store.flows,
    providers,
    redirectAllowlist: config.redirectAllowlist,
    timeoutMs: config.refresh.timeoutMs,
    stateTtlMs: config.linkStateTtlMs,
    log,
  });
  const services = [
    tokenService(engine, providers, config.refresh.minValidForMs, (providerId, expiresAt) => metrics.served(providerId, expiresAt)),
    linkService(providers, engine, store.links, flows, audit),
    adminService(providers, new KeyRotation(store.keyring, keyring), audit, () => ({
      version: VERSION,
      startedAt,
      listeners: daemon === undefined ? [] : [...daemon.grpc.map((a) => a.url), ...(daemon.http !== undefined ? [daemon.http.url] : [])],
      store: config.store.sqlite !== undefined ? `sqlite ${config.store.sqlite.path}` : `postgres ${config.store.postgres?.redactedUrl ?? ""}`,
    })),
    callerService(store.callerTokens, config.callerTokens, providers),
  ];
  const purge = setInterval(() => {
    store.flows.purgeExpiredFlows(Date.now()).catch((err: unknown) => log.warn({ err: { message: String(err) } }, "purging expired link flows failed"));
  }, FLOW_PURGE_INTERVAL_MS).unref();
  const logInternal = internalErrorLogger(log);
  const auditCall = auditObserver(audit);
  const startedAt = Date.now();
  let daemon: Daemon | undefined = undefined;
  daemon = await startDaemon(
    config,
    {
      services,
      routes: [oauthCallbackRoute(flows, providers.callbacks, log), metrics.route()],
      hooks: {
        guard: callerGuard(config.callers, store.callerTokens),
        observe: (call) => {
          metrics.observe(call);
          logInternal(call);
          auditCall(call);
        },
      },
      async onStopped() {
        clearInterval(purge);
        // In-flight refreshes commit before the store closes (invariant 3).
        // Refreshed tokens the store could not take yet get one more grace period.
        await engine.drain(Date.now() + config.shutdownGraceMs);
        await store.close();
        audit.close();
      },
    },
    log,
  ).catch(async (err: unknown) => {
    clearInterval(purge);
    await store.close();
    audit.close();
    throw err;
  });
  // A fleet's database that goes away takes this host's ability to serve with it (docs/design.md §4.5).
  // A stale change channel only turns the record cache off (the store's own log says so): still serving.
  let wasServing = true;
  postgres?.onHealth((health) => {
    if (daemon.health.closed || health.serving === wasServing) return;
    wasServing = health.serving;
    daemon.health.setAll(health.serving ? ServingStatus.SERVING : ServingStatus.NOT_SERVING);
    if (health.serving) log.info("the PostgreSQL store is reachable again");
    else log.error({ database: health.database, listener: health.listener }, "the PostgreSQL store is unreachable: not serving until it is back");
  });
  return {
    daemon,
    engine,
    store,
    reload() {
      audit.reopen();
      daemon.reloadTls();
    },
  };
}

/** The configured store: the SQLite file, or a fleet's PostgreSQL database. */
async function openStore(config: Config["store"], sealer: Sealer, log: Logger): Promise<{ store: Store; postgres?: PgStore }> {
  if (config.sqlite !== undefined) return { store: openSqliteStore({ path: config.sqlite.path, sealer, cacheEntries: config.sqlite.cacheEntries }) };
  const pg = config.postgres;
  if (pg === undefined) throw new Error("no store configured");
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


function openAuditSink(file: string | undefined, onError: (err: unknown) => void): AuditSink {
  return file === undefined ? stdoutSink(onError) : new AuditFileSink(file, onError);
}

/** The engine's reports, counted and written to the audit trail. */
function engineEvents(metrics: Metrics, audit: AuditLog): EngineEvents {
  return {
    refreshed(key, outcome, durationMs) {
      metrics.refreshed(key.providerId, outcome);
      audit.action({ event: "refresh", method: "refresh", userId: key.userId, providerId: key.providerId, outcome: refreshOutcome(outcome), providerContacted: true, durationMs });
    },
    failureRecorded(key, reason, answered) {
      audit.action({
        event: "refresh_failure_recorded",
        method: "refresh",
        userId: key.userId,
        providerId: key.providerId,
        outcome: refreshOutcome(reason),
        providerContacted: answered,
        durationMs: 0,
      });
    },
    healed(key) {
      metrics.healed(key.providerId);
      audit.action({ event: "refresh_healed", method: "refresh", userId: key.userId, providerId: key.providerId, outcome: refreshOutcome("OK"), providerContacted: false, durationMs: 0 });
    },
    tokenEndpoint: (providerId, seconds) => metrics.tokenEndpoint(providerId, seconds),
    lockWait: (seconds) => metrics.lockWait(seconds),
    rateLimitRemaining: (providerId, remaining) => metrics.rateLimitRemaining(providerId, remaining),
  };
}

function refreshOutcome(outcome: RefreshOutcome): AuditEntry["outcome"] {
  if (outcome === "OK") return { grpcCode: "OK", reason: "" };
  if (outcome === "DISCARDED") return { grpcCode: "ABORTED", reason: "DISCARDED" };
  return { grpcCode: codeName(grpcCode(outcome)), reason: outcome };
}

/** oidc providers: endpoints from the issuer's discovery document, once, at start (and in `check-config --online`). */
export async function discoverProviders(providers: ProviderConfig[], timeoutMs: number): Promise<ProviderConfig[]> {
  return Promise.all(
    providers.map(async (p) => {
      if (p.pendingDiscovery === undefined) return p;
      try {
        return applyDiscovery(p, await discoverOidc(p.pendingDiscovery.issuer, { timeoutMs }));
      } catch (err) {
        throw new Error(`provider ${p.id}: OIDC discovery at ${p.pendingDiscovery.issuer} failed: ${err instanceof Error ? err.message : String(err)}`);
      }
    }),
  );
}
