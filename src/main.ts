#!/usr/bin/env node
import { parseArgs, type ParseArgsConfig } from "node:util";
import { checkConfigCommand } from "./cli/check-config.js";
import { devCommand } from "./cli/dev.js";
import { EXIT_USAGE } from "./cli/exit-codes.js";
import { serveCommand } from "./cli/serve.js";
import { keysCommand } from "./cli/keys.js";
import { linkCommand, linksCommand, unlinkCommand } from "./cli/links.js";
import { tokenCommand } from "./cli/token.js";

const USAGE = `usage: tokenbroker <command> [options]

commands:
  serve --config FILE            run the daemon
  dev [--dir DIR] [--grpc-port N] [--http-port N]
                                 run the daemon in dev mode (state under ./var/dev,
                                 a demo provider and a demo link)
  check-config --config FILE     validate a configuration without starting
  token --user U --provider P [--min-valid 5m] [--json] [--addr ADDR]
                                 print an access token

  link --user U --provider P [--device] [--redirect-after PATH]
                                 print the authorize URL (or run the device flow)
  unlink --user U --provider P   delete a link and revoke its tokens
  links [--user U] [--provider P] [--json]
                                 list links (never token values)
  keys generate                  print a new key line for the keys file
  keys status [--json]           per key id: active or decrypt-only, values sealed under it
  keys rotate [--batch N]        re-seal every value under the active key (online)
  keys retire ID --keys-file F   remove a key no value uses any more

client commands find the daemon through --addr or TOKENBROKER_ADDR
(unix:///path/to/tokenbroker.sock or tcp://host:port).
`;

async function main(argv: string[]): Promise<number> {
  const [command, ...rest] = argv;
  const args = (options: NonNullable<ParseArgsConfig["options"]>) => parseArgs({ args: rest, options, allowPositionals: false, strict: true }).values;
  try {
    switch (command) {
      case "serve":
        return await serveCommand(args({ config: { type: "string" } }).config as string | undefined);
      case "check-config":
        return checkConfigCommand(args({ config: { type: "string" } }).config as string | undefined);
      case "dev": {
        const v = args({ dir: { type: "string" }, "grpc-port": { type: "string" }, "http-port": { type: "string" } });
        const port = (s: unknown): number | undefined => (typeof s === "string" ? Number(s) : undefined);
        return await devCommand(v.dir as string | undefined, {
          ...(port(v["grpc-port"]) !== undefined ? { grpc: port(v["grpc-port"]) as number } : {}),
          ...(port(v["http-port"]) !== undefined ? { http: port(v["http-port"]) as number } : {}),
        });
      }
      case "token": {
        const v = args({
          user: { type: "string" },
          provider: { type: "string" },
          "min-valid": { type: "string" },
          json: { type: "boolean" },
          addr: { type: "string" },
          "caller-token": { type: "string" },
        });
        return await tokenCommand(v as Record<string, string | boolean | undefined>);
      }
      case "link":
      case "unlink":
      case "links": {
        const v = args({
          user: { type: "string" },
          provider: { type: "string" },
          device: { type: "boolean" },
          "redirect-after": { type: "string" },
          json: { type: "boolean" },
          addr: { type: "string" },
          "caller-token": { type: "string" },
        }) as Record<string, string | boolean | undefined>;
        return command === "link" ? await linkCommand(v) : command === "unlink" ? await unlinkCommand(v) : await linksCommand(v);
      }
      case "keys": {
        const [sub, ...more] = rest;
        const parsed = parseArgs({
          args: more,
          options: { addr: { type: "string" }, "caller-token": { type: "string" }, json: { type: "boolean" }, batch: { type: "string" }, "keys-file": { type: "string" } },
          allowPositionals: true,
          strict: true,
        });
        return await keysCommand(sub, parsed.positionals, parsed.values as Record<string, string | boolean | undefined>);
      }
      case undefined:
      case "help":
      case "--help":
      case "-h":
        process.stdout.write(USAGE);
        return command === undefined ? EXIT_USAGE : 0;
      default:
        process.stderr.write(`tokenbroker: unknown command "${command}"\n${USAGE}`);
        return EXIT_USAGE;
    }
  } catch (err) {
    if (err instanceof TypeError && "code" in err && String(err.code).startsWith("ERR_PARSE_ARGS")) {
      process.stderr.write(`tokenbroker ${command}: ${err.message}\n`);
      return EXIT_USAGE;
    }
    throw err;
  }
}

main(process.argv.slice(2)).then(
  (code) => {
    // Exit explicitly: a drained daemon may leave idle handles behind (keep-alive timers).
    process.exit(code);
  },
  (err: unknown) => {
    process.stderr.write(`tokenbroker: ${err instanceof Error ? err.message : String(err)}\n`);
    process.exitCode = 1;
  },
);
