import { writeFileSync } from "node:fs";
import { join } from "node:path";
import type { Config, ProviderConfig } from "../../src/config/config.js";
import { ConfigError, resolveConfig } from "../../src/config/load.js";
import { tempDir } from "../support/temp-dir.js";

const dir = tempDir("tb-config-");

/** A file with this content in a private temp dir; its absolute path. */
export function secretFile(name: string, content: string): string {
  const path = join(dir, name);
  writeFileSync(path, content, { mode: 0o600 });
  return path;
}

function base(providers: unknown[]): Record<string, unknown> {
  return {
    listen: { grpc: [`unix://${dir}/tb.sock`] },
    store: { sqlite: { path: join(dir, "tb.db") } },
    encryption: { keys_file: join(dir, "keys") },
    providers,
  };
}

/** A minimal valid config with these providers and top-level keys (`over`) replaced. */
export function load(providers: unknown[], over: Record<string, unknown> = {}): Config {
  return resolveConfig({ ...base(providers), ...over }, join(dir, "config.yaml"), { env: {} });
}

/** The one provider of a config holding just it. */
export function provider(p: Record<string, unknown>): ProviderConfig {
  const c = load([{ id: "p", client_id: "cid", client_secret: "csecret", ...p }]);
  return c.providers[0]!;
}

/** The problems a config with these providers is rejected with ([] when accepted). */
export function problems(providers: unknown[], over: Record<string, unknown> = {}): string[] {
  try {
    load(providers, over);
    return [];
  } catch (e) {
    if (e instanceof ConfigError) return e.problems;
    throw e;
  }
}
