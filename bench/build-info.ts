import { execFileSync } from "node:child_process";
import { dirname, resolve } from "node:path";

export interface BuildInfo {
  /** The CLI the daemons ran. */
  cli: string;
  /** The git commit of the checkout the CLI was built from, when it is one. */
  gitHead: string | undefined;
  /** Uncommitted changes under src/ or gen/ at bench time: the build is not exactly gitHead. */
  dirty: string[] | undefined;
}

/** Which build was measured: results are only comparable between the same builds. */
export function buildInfo(cli: string): BuildInfo {
  const root = resolve(dirname(cli), "../..");
  const git = (...args: string[]): string | undefined => {
    try {
      return execFileSync("git", ["-C", root, ...args], { encoding: "utf8", stdio: ["ignore", "pipe", "ignore"] }).trimEnd();
    } catch {
      return undefined;
    }
  };
  const head = git("rev-parse", "HEAD");
  const status = head === undefined ? undefined : git("status", "--porcelain", "--", "src", "gen");
  return {
    cli,
    gitHead: head,
    dirty: status === undefined ? undefined : status.split("\n").filter((l) => l !== "").map((l) => l.slice(3)),
  };
}
