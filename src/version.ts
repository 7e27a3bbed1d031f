import { existsSync, readFileSync } from "node:fs";
import { dirname, join } from "node:path";
import { fileURLToPath } from "node:url";

/**
 * package.json's version. Found by walking up from this file: the compiled
 * module sits at dist/src/version.js, while the bundle (scripts/bundle.mjs)
 * inlines it into whichever file under dist/src imports it first.
 */
export const VERSION: string = readVersion();

function readVersion(): string {
  let dir = dirname(fileURLToPath(import.meta.url));
  for (;;) {
    const candidate = join(dir, "package.json");
    if (existsSync(candidate)) {
      const pkg = JSON.parse(readFileSync(candidate, "utf8")) as { name?: string; version: string };
      if (pkg.name === "tokenbroker") return pkg.version;
    }
    const parent = dirname(dir);
    if (parent === dir) throw new Error(`tokenbroker's package.json is not above ${fileURLToPath(import.meta.url)}`);
    dir = parent;
  }
}
