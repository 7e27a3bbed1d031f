import { AesSealer, Keyring, addSentinels, checkKeyring, loadKeys } from "./crypto/index.js";
import { RefreshEngine } from "./broker/engine.js";
import type { Config, ProviderConfig } from "./config/config.js";
import { startDaemon, type Daemon } from "./daemon.js";
import { LinkFlows } from "./link/link-flows.js";
import type { Logger } from "./log.js";
import { applyDiscovery, discoverOidc } from "./oauth/index.js";
import { ProviderRegistry } from "./providers/registry.js";
import { adminService } from "./rpc/admin-service.js";
import { callerGuard } from "./rpc/caller-auth.js";
import { internalErrorLogger } from "./rpc/internal-errors.js";
import { linkService } from "./rpc/link-service.js";
import { tokenService } from "./rpc/token-service.js";
import { KeyRotation } from "./store/key-rotation.js";
import { openSqliteStore } from "./store/sqlite/index.js";
import type { Store } from "./store/store.js";
import { Metrics } from "./web/metrics.js";
import { VERSION } from "./cli/version.js";
import { oauthCallbackRoute } from "./web/oauth-callback.js";

export interface App {
  daemon: Daemon;
  engine: RefreshEngine;
  store: Store;
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
  const store = openSqliteStore({ path: config.store.sqlite.path, sealer: new AesSealer(keyring), cacheEntries: config.store.sqlite.cacheEntries });
  let engine: RefreshEngine;
  try {
    const check = await checkKeyring(keyring, store.keyring);
    await addSentinels(keyring, store.keyring, check.missing, Date.now());
    log.info({ activeKey: keyring.active.id, keys: keyring.keyIds, unknownKeys: check.unknown }, "keyring verified");
    engine = new RefreshEngine({ store: store.links, providers, settings: config.refresh, log });
  } catch (err) {
    await store.close();
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
  const metrics = new Metrics({ lockCount: () => engine.lockCount, pendingCommits: () => engine.pendingCommits, providers });
  const services = [
    tokenService(engine, providers, config.refresh.minValidForMs),
    linkService(providers, engine, store.links, flows),
    adminService(providers, new KeyRotation(store.keyring, keyring), () => ({
      version: VERSION,
      startedAt,
      listeners: daemon === undefined ? [] : [...daemon.grpc.map((a) => a.url), ...(daemon.http !== undefined ? [daemon.http.url] : [])],
      store: `sqlite ${config.store.sqlite.path}`,
    })),
  ];
  const purge = setInterval(() => {
    store.flows.purgeExpiredFlows(Date.now()).catch((err: unknown) => log.warn({ err: { message: String(err) } }, "purging expired link flows failed"));
  }, FLOW_PURGE_INTERVAL_MS).unref();
  const logInternal = internalErrorLogger(log);
  const startedAt = Date.now();
  let daemon: Daemon | undefined = undefined;
  daemon = await startDaemon(
    config,
    {
      services,
      routes: [oauthCallbackRoute(flows, providers.callbacks, log), metrics.route()],
      hooks: {
        guard: callerGuard(config.callers),
        observe: (call) => {
          metrics.observe(call);
          logInternal(call);
        },
      },
      async onStopped() {
        clearInterval(purge);
        // In-flight refreshes commit before the store closes (invariant 3).
        // Refreshed tokens the store could not take yet get one more grace period.
        await engine.drain(Date.now() + config.shutdownGraceMs);
        await store.close();
      },
    },
    log,
  ).catch(async (err: unknown) => {
    clearInterval(purge);
    await store.close();
    throw err;
  });
  return { daemon, engine, store };
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
