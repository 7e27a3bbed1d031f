import { readFileSync } from "node:fs";
import { describe, expect, it } from "vitest";
import * as codes from "../../src/cli/exit-codes.js";

/**
 * The README's "Exit codes" table and src/cli/exit-codes.ts say the same:
 * every reason the CLI maps is named in the row of its code, and every
 * reason a row names maps to that row's code.
 */
const root = new URL("../../", import.meta.url);
const readme = readFileSync(new URL("README.md", root), "utf8");
const source = readFileSync(new URL("src/cli/exit-codes.ts", root), "utf8");

function tableRows(): Map<number, string> {
  const start = readme.indexOf("**Exit codes**");
  expect(start).toBeGreaterThan(0);
  const rows = new Map<number, string>();
  for (const line of readme.slice(start).split("\n").slice(1)) {
    const m = /^\| (\d+) \| (.*) \|$/.exec(line);
    if (m !== null) rows.set(Number(m[1]), m[2]!);
    else if (rows.size > 0 && !line.startsWith("|")) break;
  }
  return rows;
}

function mappedReasons(): Array<[string, number]> {
  const body = source.slice(source.indexOf("const BY_REASON"), source.indexOf("};", source.indexOf("const BY_REASON")));
  const exits = codes as unknown as Record<string, number>;
  return [...body.matchAll(/^\s+([A-Z_]+): (EXIT_[A-Z_]+),$/gm)].map((m) => [m[1]!, exits[m[2]!]!]);
}

describe("README exit-code table", () => {
  it("has a row for every exit code", () => {
    expect([...tableRows().keys()]).toEqual([codes.EXIT_OK, codes.EXIT_FAILURE, codes.EXIT_USAGE, codes.EXIT_REAUTH, codes.EXIT_RETRY, codes.EXIT_NOT_FOUND, codes.EXIT_PERMISSION]);
  });

  it("names every mapped reason in the row of its code (the CLI's own DAEMON_UNREACHABLE and SOCKET_PERMISSION_DENIED in words)", () => {
    const rows = tableRows();
    const reasons = mappedReasons();
    expect(reasons.length).toBeGreaterThan(15);
    const inWords: Record<string, string> = { DAEMON_UNREACHABLE: "the daemon cannot be reached", SOCKET_PERMISSION_DENIED: "no access to the socket" };
    const missing = reasons.filter(([reason, code]) => !(rows.get(code) ?? "").includes(inWords[reason] ?? reason)).map(([r, c]) => `${r} (exit ${c})`);
    expect(missing).toEqual([]);
  });

  it("maps every reason a row names to that row's code", () => {
    const wrong: string[] = [];
    for (const [code, text] of tableRows()) {
      for (const [reason] of text.matchAll(/\b[A-Z][A-Z_]{3,}[A-Z]\b/g)) {
        if (codes.exitCodeForReason(reason) !== code) wrong.push(`${reason} in row ${code} maps to ${codes.exitCodeForReason(reason)}`);
      }
    }
    expect(wrong).toEqual([]);
  });
});
