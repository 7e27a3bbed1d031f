import { readFileSync } from "node:fs";
import { dirname, resolve } from "node:path";
import { parse } from "yaml";
import { discoverProviders } from "../providers/index.js";
import type { Config } from "../config/config.js";
import { ConfigError, loadConfigFile } from "../config/load.js";
import { Keyring, KeyringError, loadKeysFrom } from "../crypto/index.js";
import { credentialNameProblem } from "../secret-file.js";
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
  let config: Config | undefined;
  let keyIds: string[] = [];
  // Every problem at once: a file that fails on a client secret is still checked for its keys,
  // so an empty credentials directory is reported whole, not one missing credential per run.
  const problems: string[] = [];
  const warnings: string[] = [];
  try {
    config = loadConfigFile(path);
  } catch (err) {
    if (!(err instanceof ConfigError)) throw err;
    problems.push(...err.problems);
  }
  const keys = config?.encryption ?? encryptionOf(path);
  if (keys !== undefined) {
    try {
      const loaded = loadKeysFrom(keys);
      warnings.push(...loaded.warnings);
      keyIds = new Keyring(loaded.keys).keyIds;
    } catch (err) {
      if (!(err instanceof KeyringError)) throw err;
      problems.push(`encryption.${keys.kind === "credential" ? "keys_credential" : "keys_file"}: ${err.message}`);
    }
  }
  if (config === undefined || problems.length > 0) {
    writeErr(`tokenbroker: invalid configuration ${path}:\n${problems.map((p) => `  ${p}`).join("\n")}\n`);
    return EXIT_USAGE;
  }
  config.warnings.push(...warnings);
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

/**
 * The keys settings of a file that did not load as a whole (another field is
 * wrong), read from the YAML as it stands, so its keys are checked too;
 * undefined when even that cannot be read.
 */
function encryptionOf(path: string): Config["encryption"] | undefined {
  try {
    const doc = parse(readFileSync(path, "utf8")) as { encryption?: { keys_file?: unknown; keys_credential?: unknown } } | null;
    const e = doc?.encryption;
    const keysFile = typeof e?.keys_file === "string" ? resolve(dirname(path), e.keys_file) : undefined;
    const keysCredential = typeof e?.keys_credential === "string" ? e.keys_credential : undefined;
    if ((keysFile === undefined) === (keysCredential === undefined)) return undefined;
    // A name that is no credential name was already refused by parsing, naming the field.
    if (keysCredential !== undefined && credentialNameProblem(keysCredential) !== undefined) return undefined;
    return keysFile !== undefined ? { kind: "file", path: keysFile } : { kind: "credential", name: keysCredential! };
  } catch {
    return undefined;
  }
}
