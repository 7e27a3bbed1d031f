import { writeErr } from "./output.js";
import type { Config } from "../config/config.js";
import { ConfigError, loadConfigFile } from "../config/load.js";
import { createLogger, type Logger } from "../log.js";
import { startApp, type App } from "../app.js";
import { createNotifier } from "../systemd/notify.js";
import { existsSync } from "node:fs";
import { dirname } from "node:path";
import { KeyringError } from "../crypto/index.js";
import { EXIT_FAILURE, EXIT_OK, EXIT_USAGE } from "./exit-codes.js";

/** Keyring problems that are the configuration's (the keys file itself), not the store's. */
const CONFIG_KEY_ERRORS: ReadonlySet<string> = new Set(["KEYS_EMPTY", "KEYS_MALFORMED", "KEYS_UNREADABLE", "KEYS_DUPLICATE"]);

export async function serveCommand(configPath: string | undefined): Promise<number> {
  const path = configPath ?? process.env.TOKENBROKER_CONFIG;
  if (path === undefined || path === "") {
    writeErr("tokenbroker serve: --config FILE (or TOKENBROKER_CONFIG) is required\n");
    return EXIT_USAGE;
  }
  let config: Config;
  try {
    config = loadConfigFile(path);
  } catch (err) {
    if (err instanceof ConfigError) {
      writeErr(`tokenbroker: ${err.message}\n`);
      return EXIT_USAGE;
    }
    throw err;
  }
  // check-config only warns about it (systemd creates it at start); serving needs it now.
  const storeDir = config.store.kind === "sqlite" ? dirname(config.store.path) : undefined;
  if (storeDir !== undefined && !existsSync(storeDir)) {
    writeErr(`tokenbroker: store.sqlite.path: directory ${storeDir} does not exist\n`);
    return EXIT_USAGE;
  }
  return runUntilSignal(config);
}

export interface RunHooks {
  /** After the daemon serves; e.g. dev mode seeds its demo link. */
  onStarted?: (app: App, log: Logger) => Promise<void>;
  /** After the daemon drained and closed. */
  onStopped?: () => Promise<void>;
}

/**
 * Runs the daemon until SIGTERM or SIGINT, then drains and returns the exit
 * code. Under systemd (NOTIFY_SOCKET) it reports READY=1 once the daemon
 * serves, pings the watchdog, and reports STOPPING=1 before draining.
 */
export async function runUntilSignal(config: Config, hooks: RunHooks = {}): Promise<number> {
  const log = createLogger(config.logLevel, undefined, {}, config.logFormat);
  for (const w of config.warnings) log.warn(w);
  const notifier = createNotifier({ log });
  notifier.startWatchdog();
  notifier.status("starting");
  // SIGTERM/SIGINT are ours from the start. Before the listeners serve, a
  // signal ends the process at once, as it would with no handler (a start
  // waiting for a locked store must not hold up a stop); from the "serving"
  // line on, it drains — also one that arrives before startApp has returned,
  // where a process without a handler yet was killed undrained.
  let serving = false;
  let signalled: NodeJS.Signals | undefined;
  let onStop: (() => void) | undefined;
  const onSignal = (sig: NodeJS.Signals): void => {
    if (!serving) {
      log.info({ signal: sig }, "signal received while starting; exiting");
      process.exit(128 + (sig === "SIGINT" ? 2 : 15));
    }
    if (signalled !== undefined) return;
    signalled = sig;
    log.info({ signal: sig }, "signal received");
    notifier.stopping(`${sig}: draining in-flight calls`);
    process.off("SIGTERM", onSignal);
    process.off("SIGINT", onSignal);
    onStop?.();
  };
  process.on("SIGTERM", onSignal);
  process.on("SIGINT", onSignal);
  let app: App;
  try {
    app = await startApp(config, log, { serving: () => (serving = true) });
  } catch (err) {
    process.off("SIGTERM", onSignal);
    process.off("SIGINT", onSignal);
    const message = err instanceof Error ? err.message : String(err);
    log.error({ err: { message } }, "failed to start");
    writeErr(`tokenbroker: ${message}\n`);
    notifier.status(`failed to start: ${message}`);
    await notifier.close();
    await hooks.onStopped?.();
    return err instanceof KeyringError && CONFIG_KEY_ERRORS.has(err.code) ? EXIT_USAGE : EXIT_FAILURE;
  }
  // startApp resolves once the store is open, the keys verified and every
  // listener bound (the "serving" log line).
  if (signalled === undefined) notifier.ready(`serving on ${app.listeners.urls().join(", ")}`);
  const stopped = new Promise<void>((resolve) => {
    if (signalled !== undefined) resolve();
    else onStop = resolve;
  });
  // logrotate and certificate renewal: reopen the audit file, reload the TLS listeners' files.
  const onHangup = (): void => {
    log.info({ signal: "SIGHUP" }, "signal received; reopening the audit file and reloading TLS certificates");
    app.reload();
  };
  process.on("SIGHUP", onHangup);
  await hooks.onStarted?.(app, log);
  await stopped;
  process.off("SIGHUP", onHangup);
  await app.stop();
  notifier.status("stopped");
  await notifier.close();
  await hooks.onStopped?.();
  return EXIT_OK;
}
