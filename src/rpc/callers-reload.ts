import type { CallerConfig } from "../config/config.js";
import { ConfigError, loadConfigFile } from "../config/load.js";
import type { Logger } from "../log.js";
import type { CallerSet } from "./caller-auth.js";

/**
 * SIGHUP: reads the config file again and, when it is valid, replaces the
 * callers (tokens, certificate names, scopes) — what a Vault agent or a CI
 * fleet rotates without a restart (issue 23 item 12). A file that does not
 * load leaves the callers as they were and logs why. Only `callers` is taken
 * from the new file; other sections still need a restart, and the log says
 * so when they differ. A config not read from a file (dev mode) has nothing
 * to reload.
 */
export function reloadCallers(source: string, set: CallerSet, log: Logger): void {
  if (source.startsWith("<")) return;
  let callers: CallerConfig[];
  try {
    callers = loadConfigFile(source).callers;
  } catch (err) {
    const problems = err instanceof ConfigError ? err.problems : [err instanceof Error ? err.message : String(err)];
    log.error({ config: source, problems }, "callers not reloaded: the config file does not load; the callers stay as they were");
    return;
  }
  const before = new Set(set.current.map((c) => c.name));
  const after = new Set(callers.map((c) => c.name));
  set.replace(callers);
  log.info(
    {
      config: source,
      callers: callers.length,
      added: [...after].filter((n) => !before.has(n)),
      removed: [...before].filter((n) => !after.has(n)),
    },
    "callers reloaded (other changes to the config take effect at restart)",
  );
}
