import { readFileSync } from "node:fs";
import { dirname, resolve } from "node:path";
import { parseDocument } from "yaml";
import type * as z from "zod";
import { checkConfig } from "./check.js";
import type { Config } from "./config.js";
import { readConfigFiles } from "./files.js";
import { configSchema } from "./schema.js";
import { yamlValue } from "./yaml-value.js";


/** Raised for any problem with the configuration; the CLI exits 2 with it. */
export class ConfigError extends Error {
  override readonly name = "ConfigError";
  constructor(
    readonly source: string,
    readonly problems: string[],
  ) {
    super(`invalid configuration ${source}:\n${problems.map((p) => `  ${p}`).join("\n")}`);
  }
}

export interface LoadOptions {
  env?: NodeJS.ProcessEnv;
}

export function loadConfigFile(path: string, opts: LoadOptions = {}): Config {
  let text: string;
  try {
    text = readFileSync(path, "utf8");
  } catch (err) {
    throw new ConfigError(path, [`cannot read config file: ${(err as NodeJS.ErrnoException).code ?? String(err)}`]);
  }
  return parseConfig(text, path, opts);
}

export function parseConfig(text: string, source: string, opts: LoadOptions = {}): Config {
  const doc = parseDocument(text, { prettyErrors: true });
  if (doc.errors.length > 0) {
    throw new ConfigError(
      source,
      doc.errors.map((e) => {
        const where = e.linePos?.[0] ? ` line ${e.linePos[0].line}` : "";
        return `YAML${where}: ${(e.message.split("\n")[0] ?? "").replace(/ at line \d+, column \d+:?$/, "")}`;
      }),
    );
  }
  const value = yamlValue(doc);
  if ("problem" in value) throw new ConfigError(source, [value.problem]);
  const raw: unknown = value.value ?? {};
  return resolveConfig(raw, source, opts);
}

/**
 * Validates an already-parsed object (YAML or built in code, as dev mode
 * does) in two steps: parsing, which reads no file (the schema, then
 * checkConfig), and reading what it names (readConfigFiles). Problems of
 * both steps are reported together.
 */
export function resolveConfig(raw: unknown, source: string, opts: LoadOptions = {}): Config {
  const baseDir = source.startsWith("<") ? process.cwd() : dirname(resolve(source));
  const parsed = configSchema(baseDir).safeParse(raw);
  if (!parsed.success) throw new ConfigError(source, parsed.error.issues.flatMap(branchIssues).map(formatIssue));
  const checked = checkConfig(parsed.data, source);
  const read = readConfigFiles(checked.plan, opts.env ?? process.env);
  const problems = [...checked.problems, ...read.problems];
  if (problems.length > 0) throw new ConfigError(source, problems);
  return read.config;
}

/**
 * A union none of whose branches took the input is reported through the
 * branch of the input's type (a listener's string or object form), with that
 * branch's own paths; when no branch fits the type, the union's own message.
 */
function branchIssues(issue: z.core.$ZodIssue): z.core.$ZodIssue[] {
  if (issue.code !== "invalid_union") return [issue];
  const branch = issue.errors.find((b) => !b.some((i) => i.code === "invalid_type" && i.path.length === 0));
  if (branch === undefined) return [issue];
  return branch.flatMap((i) => branchIssues({ ...i, path: [...issue.path, ...i.path] } as z.core.$ZodIssue));
}

/** `providers[2].token_url: not an http(s) URL` */
function formatIssue(issue: z.core.$ZodIssue): string {
  const path = issue.path.reduce<string>((acc, seg) => (typeof seg === "number" ? `${acc}[${seg}]` : acc === "" ? String(seg) : `${acc}.${String(seg)}`), "");
  let message = issue.message;
  if (issue.code === "unrecognized_keys") message = `unknown field${issue.keys.length > 1 ? "s" : ""} ${issue.keys.map((k) => `"${k}"`).join(", ")}`;
  if (issue.code === "invalid_type" && message.includes("received undefined")) message = "required";
  return `${path === "" ? "(top level)" : path}: ${message}`;
}

