import { readFileSync, writeFileSync } from "node:fs";
import { join } from "node:path";
import { describe, expect, it } from "vitest";
import { daemonConfig, runCli, startServe } from "../support/cli.js";
import { tempDir } from "../support/temp-dir.js";

/**
 * Issue 24: what a start loads is most of what it costs (a module is read,
 * compiled and linked before anything runs). `--version` and `--help` need no
 * wire library, and a SQLite daemon no PostgreSQL driver; both are imported
 * only where they are used. The CommonJS packages are the witnesses here
 * (grpc-js for the wire, pg for PostgreSQL): a preload lists require.cache
 * when the process exits. Each case has a counterpart that must load the
 * package, so a broken preload cannot pass for a lazy import.
 */

/** A preload writing the CommonJS files loaded, one a line, to $LOADED_OUT at exit. */
function preload(dir: string): string {
  const path = join(dir, "list-loaded.mjs");
  writeFileSync(
    path,
    [
      'import { createRequire } from "node:module";',
      'import { writeFileSync } from "node:fs";',
      "const require = createRequire(import.meta.url);",
      'process.on("exit", () => writeFileSync(process.env.LOADED_OUT, Object.keys(require.cache).join("\\n")));',
    ].join("\n"),
  );
  return path;
}

const GRPC_JS = /node_modules\/@grpc\/grpc-js\//;
const PG = /node_modules\/pg\//;

async function cliLoads(args: string[]): Promise<string> {
  const dir = tempDir("tb-start-imports-");
  const out = join(dir, "loaded");
  const r = await runCli(args, { env: { NODE_OPTIONS: `--import=${preload(dir)}`, LOADED_OUT: out, TOKENBROKER_ADDR: `unix://${dir}/nothing.sock` } });
  expect(r.signal).toBeNull();
  return readFileSync(out, "utf8");
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
    const loaded = readFileSync(out, "utf8");
    expect(loaded).toMatch(/node_modules\/better-sqlite3\//);
    expect(loaded).not.toMatch(PG);

    // Nothing listens there: the store fails to open, after its driver was loaded.
    const pgDir = tempDir("tb-start-imports-");
    const pgOut = join(pgDir, "loaded");
    const r = await runCli(["serve", "--config", writePgConfig(pgDir)], { env: { NODE_OPTIONS: `--import=${preload(pgDir)}`, LOADED_OUT: pgOut } });
    expect(r.code, r.stderr).toBe(1);
    expect(r.stderr).toContain("cannot open the PostgreSQL store");
    expect(readFileSync(pgOut, "utf8")).toMatch(PG);
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
