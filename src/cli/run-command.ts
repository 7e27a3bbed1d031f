import type { DescService } from "@bufbuild/protobuf";
import { Code, ConnectError } from "@connectrpc/connect";
import { UsageError, parseCommandArgs, str, type OptionSpec } from "./args.js";
import type { Command, CommandContext } from "./command.js";
import { createBrokerClient, resolveAddr, type BrokerClient, type ClientTls } from "./daemon-client.js";
import { failureOf, reasonOf } from "./daemon-error.js";
import { readClientTls } from "./client-tls.js";
import { explainTransportFailure } from "./transport-failure.js";
import { EXIT_USAGE, exitCodeForReason } from "./exit-codes.js";
import { usageLine } from "./help.js";
import { writeErr } from "./output.js";
import { formatFailure, formatUsageError } from "./report.js";

// What a transport reports, with no daemon error, when the other end is not what the address
// says: EPIPE, a reset, a protocol error, or an HTTP status mapped to a code (an HTTP/2-only
// server answers a Connect request over TLS with 403).
// What a transport failure with no daemon error comes as. Aborted: connect-node's name for a
// connection reset (plain HTTP to the TLS gRPC port is reset by the TLS server, sometimes before
// the request is written — then it is a write error, Unavailable).
const TRANSPORT_CODES = new Set([Code.Unavailable, Code.Internal, Code.Unknown, Code.PermissionDenied, Code.Unimplemented, Code.Aborted]);

/**
 * Runs one command with its arguments (`--help` is answered before: cli.ts).
 * Its own module, loaded only when a command runs: the wire libraries it
 * needs (grpc-js, Connect, protobuf) are most of the CLI's start, and
 * `--version`, `--help` and a usage error need none of them.
 */
export async function runCommand(command: Command, args: readonly string[], options: readonly OptionSpec[]): Promise<number> {
  const beforeDashes = args.indexOf("--") < 0 ? args : args.slice(0, args.indexOf("--"));
  const json = command.options.some((o) => o.name === "json") && beforeDashes.includes("--json");
  const usageError = (message: string): number => {
    writeErr(json ? formatUsageError(command.name, message, true) : `${formatUsageError(command.name, message, false)}${usageLine(command, options)}\n`);
    return EXIT_USAGE;
  };
  const clients: Array<BrokerClient<DescService>> = [];
  let address: string | undefined;
  try {
    const { flags, positionals } = parseCommandArgs(args, options, { max: command.restArgs === true ? Number.POSITIVE_INFINITY : command.args === undefined ? 0 : command.args.split(" ").length });
    const resolveAddress = (): string => (address ??= resolveAddr(str(flags, "addr")));
    let tls: ClientTls | undefined;
    const clientTls = (): ClientTls => (tls ??= readClientTls(flags, resolveAddress()));
    if (command.client === true) {
      // A bad address or an unreadable certificate is a usage error before anything runs.
      resolveAddress();
      clientTls();
    }
    const ctx: CommandContext = {
      flags,
      positionals,
      address: resolveAddress,
      connect<D extends DescService>(desc: D) {
        const client = createBrokerClient(desc, resolveAddress(), { callerToken: str(flags, "caller-token") ?? process.env.TOKENBROKER_CALLER_TOKEN, tls: clientTls() });
        clients.push(client as unknown as BrokerClient<DescService>);
        return client.rpc;
      },
    };
    try {
      return await command.run(ctx);
    } catch (err) {
      if (err instanceof UsageError) throw err;
      let failure = failureOf(err, address ?? "");
      // No daemon error: look at what answers there, and say what is wrong in one line.
      if (address !== undefined && reasonOf(err) === undefined && err instanceof ConnectError && TRANSPORT_CODES.has(err.code)) failure = await explainTransportFailure(failure, err instanceof Error ? err.message : String(err), address, tls ?? {});
      writeErr(formatFailure(failure, json, { user: str(flags, "user"), provider: str(flags, "provider") }));
      return exitCodeForReason(failure.reason);
    }
  } catch (err) {
    if (err instanceof UsageError) return usageError(err.message);
    throw err;
  } finally {
    for (const c of clients) c.close();
  }
}
