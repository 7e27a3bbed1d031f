import { ConfigError, loadConfigFile } from "../config/load.js";
import { EXIT_OK, EXIT_USAGE } from "./exit-codes.js";

export function checkConfigCommand(configPath: string | undefined): number {
  const path = configPath ?? process.env.TOKENBROKER_CONFIG;
  if (path === undefined || path === "") {
    process.stderr.write("tokenbroker check-config: --config FILE is required\n");
    return EXIT_USAGE;
  }
  try {
    const config = loadConfigFile(path);
    process.stdout.write(`${path}: ok (${config.providers.length} provider${config.providers.length === 1 ? "" : "s"})\n`);
    return EXIT_OK;
  } catch (err) {
    if (err instanceof ConfigError) {
      process.stderr.write(`tokenbroker: ${err.message}\n`);
      return EXIT_USAGE;
    }
    throw err;
  }
}
