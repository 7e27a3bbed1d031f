import { readFileSync, writeFileSync } from "node:fs";
import { join, resolve } from "node:path";
import { pathToFileURL } from "node:url";
import { describe, expect, it } from "vitest";
import { daemonConfig, runCli, startServe } from "../support/cli.js";
import { tempDir } from "../support/temp-dir.js";

/**
 * Issue 24: what a start loads is most of what it costs (a module is read,
 * compiled and linked before anything runs). `--version` and `--help` need no
 * wire library, and a SQLite daemon no PostgreSQL driver; both are imported
 * only where they are used. The commands run are the build's: tsc's output
 * linked by scripts/bundle.mjs into entries and chunks, so a package can be
 * loaded as its own files (pg, which stays external) or inside a chunk
 * (grpc-js). A preload records every file the process loads — ES modules
 * through a resolve hook, CommonJS from require.cache at exit — and a
 * package counts as loaded when one of its files is, or when a loaded file
 * of the build carries it (esbuild names each module's source path in a
 * comment). Each case has a counterpart that must load the package, so a
 * broken preload cannot pass for a lazy import.
 */

/** A preload writing the files loaded, one a line, to $LOADED_OUT. */
function preload(dir: string): string {
  const hooks = join(dir, "record-hooks.mjs");
  writeFileSync(
    hooks,
    [
      'import { appendFileSync } from "node:fs";',
      "export async function resolve(specifier, context, next) {",
      "  const r = await next(specifier, context);",
      '  if (r.url.startsWith("file:")) appendFileSync(process.env.LOADED_OUT, `${new URL(r.url).pathname}\\n`);',
      "  return r;",
      "}",
    ].join("\n"),
  );
  const path = join(dir, "list-loaded.mjs");
  writeFileSync(
    path,
    [
      'import { createRequire, register } from "node:module";',
      'import { appendFileSync } from "node:fs";',
      `register(${JSON.stringify(pathToFileURL(hooks).href)});`,
      "const require = createRequire(import.meta.url);",
      'process.on("exit", () => appendFileSync(process.env.LOADED_OUT, Object.keys(require.cache).join("\\n")));',
    ].join("\n"),
  );
  return path;
}

/** The files loaded, and the text of those that are the build's own (where a linked package shows). */
function evidence(out: string): string {
  const files = [...new Set(readFileSync(out, "utf8").split("\n").filter((f) => f !== ""))];
  const own = files.filter((f) => f.startsWith(`${DIST}/`) && f.endsWith(".js"));
  expect(own.length, "the preload saw none of the build's files").toBeGreaterThan(0);
  return [...files, ...own.map((f) => readFileSync(f, "utf8"))].join("\n");
}

const DIST = resolve(import.meta.dirname, "../../dist");
const GRPC_JS = /node_modules\/@grpc\/grpc-js\//;
const PG = /node_modules\/pg\//;

async function cliLoads(args: string[]): Promise<string> {
  const dir = tempDir("tb-start-imports-");
  const out = join(dir, "loaded");
  const r = await runCli(args, { env: { NODE_OPTIONS: `--import=${preload(dir)}`, LOADED_OUT: out, TOKENBROKER_ADDR: `unix://${dir}/nothing.sock` } });
  expect(r.signal).toBeNull();
  return evidence(out);
}

describe("what a start loads", () => {
  it("--version and --help load no wire library; a command that calls the daemon does", async () => {
    expect(await cliLoads(["--version"])).not.toMatch(GRPC_JS);
    expect(await cliLoads(["--help"])).not.toMatch(GRPC_JS);
    expect(await cliLoads(["token", "--help"])).not.toMatch(GRPC_JS);
    expect(await cliLoads(["status"])).toMatch(GRPC_JS);
  });

  it("a daemon on SQLite does not load the PostgreSQL driver; one on PostgreSQL does", async () => {
    const dir = tempDir("tb-start-imports-");
    const out = join(dir, "loaded");
    const daemon = await startServe(daemonConfig(dir), dir, { nodeArgs: [`--import=${preload(dir)}`], env: { LOADED_OUT: out } });
    // One call answered first: "serving" is logged just before serve installs
    // its SIGTERM handler, and a signal in between ends the process unhandled.
    await runCli(["status", "--addr", daemon.unixTarget!]);
    expect((await daemon.stop()).code).toBe(0);
    const loaded = evidence(out);
    // Linked by scripts/bundle.mjs: the daemon's start reads a few dozen files, not the ~800 modules of its packages.
    const files = new Set(readFileSync(out, "utf8").split("\n").filter((f) => f.endsWith(".js") || f.endsWith(".cjs") || f.endsWith(".mjs")));
    expect(files.size, [...files].join("\n")).toBeLessThan(150);
    expect(loaded).toMatch(/node_modules\/better-sqlite3\//);
    expect(loaded).not.toMatch(PG);

    // Nothing listens there: the store fails to open, after its driver was loaded.
    const pgDir = tempDir("tb-start-imports-");
    const pgOut = join(pgDir, "loaded");
    const r = await runCli(["serve", "--config", writePgConfig(pgDir)], { env: { NODE_OPTIONS: `--import=${preload(pgDir)}`, LOADED_OUT: pgOut } });
    expect(r.code, r.stderr).toBe(1);
    expect(r.stderr).toContain("cannot open the PostgreSQL store");
    expect(evidence(pgOut)).toMatch(PG);
  });
});

function writePgConfig(dir: string): string {
  const path = join(dir, "config.yaml");
  writeFileSync(join(dir, "keys"), `${Buffer.alloc(32, 7).toString("base64")}\n`, { mode: 0o600 });
  writeFileSync(join(dir, "pg-url"), "postgres://tb:pw@127.0.0.1:9/tb\n", { mode: 0o600 });
  const config = daemonConfig(dir, { store: { postgres: { url_file: join(dir, "pg-url"), connect_timeout: "1s" } } });
  writeFileSync(path, JSON.stringify(config));
  return path;
}
