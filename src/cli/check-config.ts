import { discoverProviders } from "../providers/index.js";
import type { Config } from "../config/config.js";
import { ConfigError, loadConfigFile } from "../config/load.js";
import { Keyring, KeyringError, loadKeysFrom } from "../crypto/index.js";
import { EXIT_OK, EXIT_USAGE } from "./exit-codes.js";
import { writeErr, writeOut } from "./output.js";

/**
 * `check-config`: what `serve` checks before it opens the store — the file,
 * secrets readable, the keys read and parsed — so "ok" here means serve
 * gets past its configuration. Discovery needs the network, so it runs only
 * with --online. Warnings go to stderr and do not fail the check.
 */
export async function checkConfigCommand(configPath: string | undefined, opts: { online: boolean }): Promise<number> {
  const path = configPath ?? process.env.TOKENBROKER_CONFIG;
  if (path === undefined || path === "") {
    writeErr("tokenbroker check-config: --config FILE (or TOKENBROKER_CONFIG) is required\n");
    return EXIT_USAGE;
  }
  let config: Config;
  let keyIds: string[];
  try {
    config = loadConfigFile(path);
    const loaded = loadKeysFrom(config.encryption);
    config.warnings.push(...loaded.warnings);
    keyIds = new Keyring(loaded.keys).keyIds;
  } catch (err) {
    if (err instanceof ConfigError || err instanceof KeyringError) {
      writeErr(`tokenbroker: ${err.message}\n`);
      return EXIT_USAGE;
    }
    throw err;
  }
  if (opts.online) {
    try {
      await discoverProviders(config.providers, config.refresh.timeoutMs);
    } catch (err) {
      writeErr(`tokenbroker: ${err instanceof Error ? err.message : String(err)}\n`);
      return EXIT_USAGE;
    }
  }
  for (const w of config.warnings) writeErr(`warning: ${w}\n`);
  const n = config.providers.length;
  const discovery = config.providers.some((p) => p.pendingDiscovery !== undefined) ? (opts.online ? "; discovery ok" : "; discovery not checked (use --online)") : "";
  writeOut(`${path}: ok (${n} provider${n === 1 ? "" : "s"}; key${keyIds.length === 1 ? "" : "s"} ${keyIds.join(", ")}${discovery})\n`);
  return EXIT_OK;
}
