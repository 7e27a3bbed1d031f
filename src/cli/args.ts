/** One option of a command, as its help shows it and the parser reads it. */
export interface OptionSpec {
  readonly name: string;
  /** A boolean is a flag; a string takes a value (`--name V` or `--name=V`). */
  readonly type: "string" | "boolean";
  /** The value's placeholder in help, e.g. `U` for `--user U`. */
  readonly value?: string;
  readonly help: string;
  readonly required?: boolean;
}

export type Flags = Record<string, string | boolean | undefined>;

export interface ParsedArgs {
  flags: Flags;
  positionals: string[];
}

/** Bad usage: the CLI prints the message and the command's usage line, and exits 2. */
export class UsageError extends Error {
  override readonly name = "UsageError";
}

/**
 * Reads a command's arguments. Our own small parser rather than
 * util.parseArgs: its messages name its internals ("Use `--x=-XYZ`",
 * "To specify a positional argument …") and a script author deserves one
 * plain sentence naming the option.
 */
export function parseCommandArgs(args: readonly string[], options: readonly OptionSpec[], positionals: { max: number }): ParsedArgs {
  const byName = new Map(options.map((o) => [o.name, o]));
  const flags: Flags = {};
  const rest: string[] = [];
  for (let i = 0; i < args.length; i++) {
    const arg = args[i] as string;
    if (arg === "--") {
      rest.push(...args.slice(i + 1));
      break;
    }
    if (!arg.startsWith("-") || arg === "-") {
      rest.push(arg);
      continue;
    }
    if (!arg.startsWith("--")) throw new UsageError(`unknown option ${arg}`);
    const eq = arg.indexOf("=");
    const name = arg.slice(2, eq < 0 ? undefined : eq);
    const spec = byName.get(name);
    if (spec === undefined) throw new UsageError(`unknown option --${name}`);
    if (flags[name] !== undefined) throw new UsageError(`--${name} given twice`);
    if (spec.type === "boolean") {
      if (eq >= 0) throw new UsageError(`--${name} takes no value`);
      flags[name] = true;
      continue;
    }
    let value: string | undefined;
    if (eq >= 0) value = arg.slice(eq + 1);
    else {
      const next = args[i + 1];
      // `--user --provider p` is a forgotten value, not a user named "--provider".
      if (next !== undefined && !next.startsWith("--")) {
        value = next;
        i++;
      }
    }
    if (value === undefined || value === "") throw new UsageError(`--${name} needs a value (--${name} ${spec.value ?? "VALUE"})`);
    flags[name] = value;
  }
  if (rest.length > positionals.max) {
    throw new UsageError(positionals.max === 0 ? `unexpected argument "${rest[0]}"` : `unexpected argument "${rest[positionals.max]}"`);
  }
  const missing = options.filter((o) => o.required === true && flags[o.name] === undefined).map((o) => `--${o.name}`);
  if (missing.length > 0) throw new UsageError(`${missing.join(" and ")} ${missing.length === 1 ? "is" : "are"} required`);
  return { flags, positionals: rest };
}

/** The value of a string flag (the parser guarantees the type). */
export function str(flags: Flags, name: string): string | undefined {
  const v = flags[name];
  return typeof v === "string" ? v : undefined;
}
