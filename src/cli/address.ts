import { existsSync } from "node:fs";
import { UsageError } from "./args.js";

// Only node: builtins and args.ts here: `tokenbroker git-credential` loads this
// on every git operation, without the CLI's wire libraries.

/** Where systemd's tokenbroker.socket puts the daemon (deploy/systemd). */
export const SYSTEM_SOCKET = "/run/tokenbroker/tokenbroker.sock";
/** Where `tokenbroker dev` (run from the checkout) puts it. */
export const DEV_SOCKET = "./var/dev/tokenbroker.sock";

/**
 * The daemon's address: `--addr`, else TOKENBROKER_ADDR, else the system
 * socket when it exists (a production host), else the dev socket under the
 * current directory. A malformed address is a UsageError naming where it
 * came from.
 */
export function resolveAddr(flag: string | undefined, env: NodeJS.ProcessEnv = process.env): string {
  const fromEnv = env.TOKENBROKER_ADDR === "" ? undefined : env.TOKENBROKER_ADDR;
  const addr = flag ?? fromEnv ?? (existsSync(SYSTEM_SOCKET) ? `unix://${SYSTEM_SOCKET}` : `unix://${DEV_SOCKET}`);
  const problem = addressProblem(addr);
  if (problem !== undefined) throw new UsageError(`${flag !== undefined ? "--addr" : "TOKENBROKER_ADDR"} "${addr}": ${problem} (${ADDRESS_FORMS})`);
  return addr;
}

/** The address forms, for messages. */
export const ADDRESS_FORMS = "use unix:///path/to/tokenbroker.sock or tcp://host:port for gRPC, tls://host:port for gRPC over TLS, http(s)://host:port for the web listener";

function addressProblem(addr: string): string | undefined {
  const unix = /^unix:(?:\/\/)?(.*)$/.exec(addr);
  if (unix !== null) return unix[1] === "" ? "no socket path" : undefined;
  const net = /^(tcp|tls|https?):\/\/(.*)$/.exec(addr);
  if (net === null) return "unknown scheme";
  let url: URL;
  try {
    url = new URL(`http://${net[2]}`);
  } catch {
    return "not a host:port";
  }
  if ((net[1] === "tcp" || net[1] === "tls") && (url.port === "" || url.pathname !== "/")) return `expected ${net[1]}://host:port`;
  if (url.hostname === "") return "no host";
  return undefined;
}
