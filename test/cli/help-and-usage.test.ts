import { readFileSync } from "node:fs";
import { resolve } from "node:path";
import { describe, expect, it } from "vitest";
import { COMMANDS } from "../../src/cli/commands.js";
import { runCli } from "../support/cli.js";

/**
 * Issue 14: per-command --help on stdout with exit 0, --version, and usage
 * errors on stderr with exit 2 in our own words (no util.parseArgs text).
 * The command table (src/cli/commands.ts) is the list; the built CLI answers.
 */

const PARSE_ARGS_INTERNALS = /ERR_PARSE_ARGS|Use `--|To specify an option argument|To specify a positional argument|Unknown option '/;

describe("help and version", () => {
  it("top-level --help lists every command, the exit codes and the environment, on stdout", async () => {
    for (const flag of ["--help", "-h", "help"]) {
      const r = await runCli([flag]);
      expect(r.code).toBe(0);
      expect(r.stderr).toBe("");
      for (const c of COMMANDS) expect(r.stdout).toContain(`  ${c.name}`);
      expect(r.stdout).toMatch(/^ {2}3 {2}the link needs re-linking \(REAUTH_REQUIRED\)$/m);
      expect(r.stdout).toContain("TOKENBROKER_ADDR");
    }
  });

  it.each(COMMANDS.map((c) => [c.name]))("`%s --help` shows its options on stdout and exits 0", async (name) => {
    const command = COMMANDS.find((c) => c.name === name)!;
    const r = await runCli([...name.split(" "), "--help"]);
    expect(r.code, r.stderr).toBe(0);
    expect(r.stderr).toBe("");
    expect(r.stdout.startsWith(`usage: tokenbroker ${name}`)).toBe(true);
    for (const o of command.options) expect(r.stdout).toContain(`--${o.name}`);
    if (command.client === true) expect(r.stdout).toContain("--addr ADDR");
  });

  it("`keys --help` lists the subcommands", async () => {
    const r = await runCli(["keys", "--help"]);
    expect(r.code).toBe(0);
    expect(r.stdout).toContain("keys rotate");
  });

  it("`help token` and `help keys rotate` print the command's help, as --help does", async () => {
    for (const name of ["token", "keys rotate", "status"]) {
      const viaHelp = await runCli(["help", ...name.split(" ")]);
      const viaFlag = await runCli([...name.split(" "), "--help"]);
      expect(viaHelp.code).toBe(0);
      expect(viaHelp.stdout).toBe(viaFlag.stdout);
      expect(viaHelp.stdout).toContain(`usage: tokenbroker ${name}`);
    }
    const unknown = await runCli(["help", "nope"]);
    expect(unknown.code).toBe(2);
    expect(unknown.stderr).toContain('unknown command "nope"');
  });

  it("--version prints package.json's version", async () => {
    const pkg = JSON.parse(readFileSync(resolve(import.meta.dirname, "../../package.json"), "utf8")) as { version: string };
    const r = await runCli(["--version"]);
    expect(r.code).toBe(0);
    expect(r.stdout).toBe(`${pkg.version}\n`);
  });
});

describe("usage errors: stderr, exit 2, our words", () => {
  const cases: Array<[string[], string]> = [
    [["token", "--user", "u", "--provider", "p", "--bogus"], "tokenbroker token: unknown option --bogus"],
    [["token", "--user", "--provider", "p"], "tokenbroker token: --user needs a value (--user U)"],
    [["token", "--provider", "p"], "tokenbroker token: --user is required"],
    [["token", "--user", "u", "--provider", "p", "extra"], 'tokenbroker token: unexpected argument "extra"'],
    [["token", "--user", "u", "--provider", "p", "--json=yes"], "tokenbroker token: --json takes no value"],
    [["token", "--user", "u", "--provider", "p", "--min-valid", "soon"], 'tokenbroker token: --min-valid "soon": not a duration'],
    [["links", "-x"], "tokenbroker links: unknown option -x"],
    [["keys", "rotate", "--batch", "0"], 'tokenbroker keys rotate: --batch "0": must be a whole number from 1 to 10000'],
    [["keys", "retire", "--keys-file", "/k"], "tokenbroker keys retire: the key id to retire is required"],
    [["keys", "bogus"], 'tokenbroker keys: unknown subcommand "bogus"'],
    [["bogus"], 'tokenbroker: unknown command "bogus"'],
    [["dev", "--grpc-port", "http"], 'tokenbroker dev: --grpc-port "http": not a port number (0 to 65535)'],
    [["--bogus"], "tokenbroker: unknown option --bogus"],
    [["links", "--addr", "unix://"], 'tokenbroker links: --addr "unix://": no socket path'],
    [["status", "--addr", "ftp://host:1"], 'tokenbroker status: --addr "ftp://host:1": unknown scheme'],
  ];
  it.each(cases)("%j", async (args, message) => {
    const r = await runCli(args, { env: { TOKENBROKER_ADDR: "tcp://127.0.0.1:9" } });
    expect(r.code, r.stderr).toBe(2);
    expect(r.stdout).toBe("");
    expect(r.stderr).toContain(message);
    expect(r.stderr).not.toMatch(PARSE_ARGS_INTERNALS);
  });

  it("no command at all: the usage on stderr, exit 2", async () => {
    const r = await runCli([]);
    expect(r.code).toBe(2);
    expect(r.stdout).toBe("");
    expect(r.stderr).toContain("usage: tokenbroker <command>");
  });

  it("with --json a usage error is one JSON object too", async () => {
    const r = await runCli(["token", "--user", "u", "--json"]);
    expect(r.code).toBe(2);
    expect(JSON.parse(r.stderr)).toEqual({ code: "INVALID_ARGUMENT", reason: "USAGE", message: "--provider is required", retry_after: null });
  });
});
