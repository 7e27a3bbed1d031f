/**
 * The README's `npm run sim` commands, run as written (from the checkout, as
 * a user would): each exits 0 and says what it did.
 */
import { execFileSync } from "node:child_process";
import { readFileSync } from "node:fs";
import { resolve } from "node:path";
import { expect, it } from "vitest";

const ROOT = resolve(import.meta.dirname, "../..");
const README = readFileSync(resolve(ROOT, "README.md"), "utf8");
const commands = [...README.matchAll(/^(npm run sim -- [^#\n]*?)\s+#/gm)].map((m) => m[1]!.trim());

it("the README shows the sim commands", () => {
  expect(commands).toEqual(["npm run sim -- --runs 2000 --seed 42", "npm run sim -- --regressions"]);
});

it.each(commands)("%s", (command) => {
  const out = execFileSync("bash", ["-c", command], { cwd: ROOT, encoding: "utf8", timeout: 120_000 });
  expect(out).toMatch(command.includes("--regressions") ? /\d+ passed, 0 failed/ : /2000 schedules passed \(seed 42\)/);
});
