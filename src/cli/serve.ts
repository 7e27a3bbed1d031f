import type { Config } from "../config/config.js";
import { ConfigError, loadConfigFile } from "../config/load.js";
import { createLogger, type Logger } from "../log.js";
import { startApp, type App } from "../app.js";
import { EXIT_FAILURE, EXIT_OK, EXIT_USAGE } from "./exit-codes.js";

export async function serveCommand(configPath: string | undefined): Promise<number> {
  const path = configPath ?? process.env.TOKENBROKER_CONFIG;
  if (path === undefined || path === "") {
    process.stderr.write("tokenbroker serve: --config FILE (or TOKENBROKER_CONFIG) is required\n");
    return EXIT_USAGE;
  }
  let config: Config;
  try {
    config = loadConfigFile(path);
  } catch (err) {
    if (err instanceof ConfigError) {
      process.stderr.write(`tokenbroker: ${err.message}\n`);
      return EXIT_USAGE;
    }
    throw err;
  }
  return runUntilSignal(config);
}

export interface RunHooks {
  /** After the daemon serves; e.g. dev mode seeds its demo link. */
  onStarted?: (app: App, log: Logger) => Promise<void>;
  /** After the daemon drained and closed. */
  onStopped?: () => Promise<void>;
}

/** Runs the daemon until SIGTERM or SIGINT, then drains and returns the exit code. */
export async function runUntilSignal(config: Config, hooks: RunHooks = {}): Promise<number> {
  const log = createLogger(config.logLevel);
  let app: App;
  try {
    app = await startApp(config, log);
  } catch (err) {
    const message = err instanceof Error ? err.message : String(err);
    log.error({ err: { message } }, "failed to start");
    process.stderr.write(`tokenbroker: ${message}\n`);
    await hooks.onStopped?.();
    return EXIT_FAILURE;
  }
  const stopped = new Promise<void>((resolve) => {
    const onSignal = (sig: NodeJS.Signals): void => {
      log.info({ signal: sig }, "signal received");
      process.off("SIGTERM", onSignal);
      process.off("SIGINT", onSignal);
      resolve();
    };
    process.on("SIGTERM", onSignal);
    process.on("SIGINT", onSignal);
  });
  await hooks.onStarted?.(app, log);
  await stopped;
  await app.daemon.stop();
  await hooks.onStopped?.();
  return EXIT_OK;
}
