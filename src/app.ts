import { AesSealer, Keyring, addSentinels, checkKeyring, loadKeys } from "./crypto/index.js";
import { RefreshEngine } from "./broker/engine.js";
import type { Config } from "./config/config.js";
import { startDaemon, type Daemon } from "./daemon.js";
import type { Logger } from "./log.js";
import { adminService } from "./rpc/admin-service.js";
import { callerGuard } from "./rpc/caller-auth.js";
import { linkService } from "./rpc/link-service.js";
import { tokenService } from "./rpc/token-service.js";
import { KeyRotation } from "./store/key-rotation.js";
import { SqliteLinkStore } from "./store/sqlite/index.js";

export interface App {
  daemon: Daemon;
  engine: RefreshEngine;
  store: SqliteLinkStore;
}

/**
 * Everything the daemon runs, built from a validated config: keys first
 * (a wrong key stops here, before the store is touched), then the store,
 * the engine, the services and the listeners.
 */
export async function startApp(config: Config, log: Logger): Promise<App> {
  const { keysFile, keysCredential } = config.encryption;
  const loaded = loadKeys({ ...(keysFile !== undefined ? { keysFile } : {}), ...(keysCredential !== undefined ? { keysCredential } : {}) });
  for (const w of loaded.warnings) log.warn({ keys: loaded.path }, w);
  const keyring = new Keyring(loaded.keys);
  const store = SqliteLinkStore.open({ path: config.store.sqlite.path, sealer: new AesSealer(keyring) });
  let engine: RefreshEngine;
  try {
    const check = checkKeyring(keyring, store);
    addSentinels(keyring, store, check.missing, Date.now());
    log.info({ activeKey: keyring.active.id, keys: keyring.keyIds, unknownKeys: check.unknown }, "keyring verified");
    engine = new RefreshEngine({
      store,
      providers: config.providers,
      settings: config.refresh,
      log,
      misconfiguredBackoff: { initialMs: config.refresh.misconfiguredBackoffMs, maxMs: Math.max(config.refresh.misconfiguredBackoffMs, 600_000) },
    });
  } catch (err) {
    await store.close();
    throw err;
  }
  const services = [
    tokenService(engine, config.providers, config.refresh.minValidForMs),
    linkService(engine, store),
    adminService(engine, config.providers, new KeyRotation(store, keyring)),
  ];
  const daemon = await startDaemon(
    config,
    {
      services,
      hooks: { guard: callerGuard(config.callers) },
      async onStopped() {
        // In-flight refreshes commit before the store closes (invariant 3).
        await engine.drain();
        await store.close();
      },
    },
    log,
  ).catch(async (err: unknown) => {
    await store.close();
    throw err;
  });
  return { daemon, engine, store };
}
