import type { DescService } from "@bufbuild/protobuf";
import type { Flags, OptionSpec } from "./args.js";
import type { BrokerClient } from "./daemon-client.js";

/** What a command's run gets: its parsed arguments and a way to reach the daemon. */
export interface CommandContext {
  readonly flags: Flags;
  readonly positionals: string[];
  /** A client for the daemon at --addr / TOKENBROKER_ADDR / the default; closed after the command. */
  connect<D extends DescService>(desc: D): BrokerClient<D>["rpc"];
  /** The address connect() uses (for messages). */
  address(): string;
}

/** One row of the command table (commands.ts). */
export interface Command {
  /** One word, or two for a group's subcommand ("keys rotate"). */
  readonly name: string;
  /** Positional arguments in the usage line ("ID"), none by default. */
  readonly args?: string;
  /** Takes any number of positional arguments (`token --exec -- CMD ARG...`). */
  readonly restArgs?: boolean;
  readonly summary: string;
  /** A paragraph for `--help`, after the summary. */
  readonly description?: string;
  readonly options: readonly OptionSpec[];
  /** Talks to the daemon: gets --addr and --caller-token. */
  readonly client?: boolean;
  run(ctx: CommandContext): Promise<number>;
}
