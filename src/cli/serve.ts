import type { Config } from "../config/config.js";
import { ConfigError, loadConfigFile } from "../config/load.js";
import { createLogger } from "../log.js";
import { startApp } from "../app.js";
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

/** Runs the daemon until SIGTERM or SIGINT, then drains and returns the exit code. */
export async function runUntilSignal(config: Config, onReady?: (addresses: string[]) => void): Promise<number> {
  const log = createLogger(config.logLevel);
  let daemon;
  try {
    daemon = await startApp(config, log);
  } catch (err) {
    log.error({ err: { message: (err as Error).message } }, "failed to start");
    process.stderr.write(`tokenbroker: ${(err as Error).message}\n`);
    return EXIT_FAILURE;
  }
  onReady?.([...daemon.grpc.map((a) => a.url), ...(daemon.http ? [`http ${daemon.http.url}`] : [])]);
  await new Promise<void>((resolve) => {
    const onSignal = (sig: NodeJS.Signals): void => {
      log.info({ signal: sig }, "signal received");
      process.off("SIGTERM", onSignal);
      process.off("SIGINT", onSignal);
      resolve();
    };
    process.on("SIGTERM", onSignal);
    process.on("SIGINT", onSignal);
  });
  await daemon.stop();
  return EXIT_OK;
}
