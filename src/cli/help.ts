import type { OptionSpec } from "./args.js";
import type { Command } from "./command.js";

const HELP_OPTION: OptionSpec = { name: "help", type: "boolean", help: "show this help" };

function optionLabel(o: OptionSpec): string {
  return o.type === "string" ? `--${o.name} ${o.value ?? "VALUE"}` : `--${o.name}`;
}

export function usageLine(c: Command, options: readonly OptionSpec[]): string {
  const required = options.filter((o) => o.required === true).map(optionLabel);
  const more = options.some((o) => o.required !== true) ? " [options]" : "";
  return `usage: tokenbroker ${c.name}${c.args !== undefined ? ` ${c.args}` : ""}${required.length > 0 ? ` ${required.join(" ")}` : ""}${more}`;
}

/** `tokenbroker <command> --help`. */
export function commandHelp(c: Command, options: readonly OptionSpec[]): string {
  const all = [...options, HELP_OPTION];
  const width = Math.max(...all.map((o) => optionLabel(o).length)) + 2;
  const rows = all.map((o) => `  ${optionLabel(o).padEnd(width)}${o.help}${o.required === true ? " (required)" : ""}`);
  const paragraph = c.description !== undefined ? `\n${c.description}\n` : "";
  return `${usageLine(c, options)}\n\n${c.summary[0]?.toUpperCase() ?? ""}${c.summary.slice(1)}.\n${paragraph}\noptions:\n${rows.join("\n")}\n`;
}

/** `tokenbroker --help`. */
export function topLevelHelp(commands: readonly Command[]): string {
  const width = Math.max(...commands.map((c) => c.name.length + (c.args !== undefined ? c.args.length + 1 : 0))) + 2;
  const rows = commands.map((c) => `  ${`${c.name}${c.args !== undefined ? ` ${c.args}` : ""}`.padEnd(width)}${c.summary}`);
  return `usage: tokenbroker <command> [options]

commands:
${rows.join("\n")}

Run \`tokenbroker <command> --help\` (or \`tokenbroker help <command>\`) for a command's options; \`tokenbroker --version\` prints the version.

exit codes:
  0  ok
  1  another failure
  2  bad usage, address or configuration; an invalid request; the address speaks another protocol, or its certificate is not trusted
  3  the link needs re-linking (REAUTH_REQUIRED)
  4  try again later (provider or store unavailable, rate limited, daemon unreachable or stopping)
  5  not found (no such link or provider)
  6  permission denied (caller token missing or unknown, scope missing, no access to the socket)

environment:
  TOKENBROKER_ADDR          the daemon's address (client commands; --addr wins)
  TOKENBROKER_CALLER_TOKEN  the caller token (client commands; --caller-token wins)
  TOKENBROKER_CACERT        the CA for tls:// and https:// addresses (--cacert wins)
  TOKENBROKER_CERT, TOKENBROKER_KEY  a client certificate and its key for mTLS (--cert, --key win)
  TOKENBROKER_CONFIG        the configuration file (serve, check-config; --config wins)
`;
}
