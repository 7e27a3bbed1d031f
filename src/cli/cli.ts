import type { Command } from "./command.js";
import { CLIENT_OPTIONS, COMMANDS } from "./commands.js";
import { EXIT_OK, EXIT_USAGE } from "./exit-codes.js";
import { commandHelp, topLevelHelp } from "./help.js";
import { writeErr, writeOut } from "./output.js";
import { formatUsageError } from "./report.js";
import { VERSION } from "../version.js";

/** Runs one command line (argv without node and the script) and answers its exit code. */
export async function runCommandLine(argv: readonly string[]): Promise<number> {
  const [first, second] = argv;
  if (first === undefined) {
    writeErr(topLevelHelp(COMMANDS));
    return EXIT_USAGE;
  }
  if (first === "help" && second !== undefined) {
    // `help token`, `help keys rotate`: the command's help, as `token --help` prints it.
    const rest = argv.slice(1);
    return runCommandLine([...rest, "--help"]);
  }
  if (first === "--help" || first === "-h" || first === "help") {
    writeOut(topLevelHelp(COMMANDS));
    return EXIT_OK;
  }
  if (first === "--version" || first === "-V") {
    writeOut(`${VERSION}\n`);
    return EXIT_OK;
  }
  const pair = COMMANDS.find((c) => c.name === `${first} ${second ?? ""}`);
  const command = pair ?? COMMANDS.find((c) => c.name === first);
  if (command === undefined) return unknownCommand(first, second);
  return runCommand(command, argv.slice(pair !== undefined ? 2 : 1));
}

function unknownCommand(first: string, second: string | undefined): number {
  const group = COMMANDS.filter((c) => c.name.startsWith(`${first} `));
  if (group.length > 0) {
    const list = `usage: tokenbroker ${first} <${group.map((c) => c.name.slice(first.length + 1)).join("|")}> [options]\n${group.map((c) => `  ${c.name.padEnd(16)}${c.summary}`).join("\n")}\n`;
    if (second === "--help" || second === "-h") {
      writeOut(list);
      return EXIT_OK;
    }
    writeErr(`tokenbroker ${first}: ${second === undefined ? "which one?" : `unknown subcommand "${second}"`}\n${list}`);
    return EXIT_USAGE;
  }
  writeErr(formatUsageError("", first.startsWith("-") ? `unknown option ${first}` : `unknown command "${first}"`, false));
  return EXIT_USAGE;
}

async function runCommand(command: Command, args: readonly string[]): Promise<number> {
  const options = [...command.options, ...(command.client === true ? CLIENT_OPTIONS : [])];
  const beforeDashes = args.indexOf("--") < 0 ? args : args.slice(0, args.indexOf("--"));
  if (beforeDashes.includes("--help") || beforeDashes.includes("-h")) {
    writeOut(commandHelp(command, options));
    return EXIT_OK;
  }
  return (await import("./run-command.js")).runCommand(command, args, options);
}
