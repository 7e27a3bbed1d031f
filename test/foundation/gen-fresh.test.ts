import { execFile } from "node:child_process";
import { readFileSync, readdirSync } from "node:fs";
import { join, relative, resolve } from "node:path";
import { promisify } from "node:util";
import { expect, it } from "vitest";
import { tempDir } from "../support/temp-dir.js";

const run = promisify(execFile);
const root = resolve(import.meta.dirname, "../..");

function listFiles(dir: string): string[] {
  return readdirSync(dir, { withFileTypes: true, recursive: true })
    .filter((e) => e.isFile())
    .map((e) => relative(dir, join(e.parentPath, e.name)))
    .sort();
}

it("gen/ equals what buf generate produces from proto/", async () => {
  const out = tempDir("tb-gen-");
  await run(join(root, "node_modules/.bin/buf"), ["generate", "-o", out], {
    cwd: root,
    env: { ...process.env, PATH: `${join(root, "node_modules/.bin")}:${process.env.PATH}` },
  });
  const fresh = join(out, "gen");
  const committed = join(root, "gen");
  expect(listFiles(committed)).toEqual(listFiles(fresh));
  for (const f of listFiles(fresh)) {
    expect(readFileSync(join(committed, f), "utf8"), `gen/${f} is stale: run npm run generate`).toBe(readFileSync(join(fresh, f), "utf8"));
  }
});

it("buf lint (STANDARD) is clean", async () => {
  const { stdout, stderr } = await run(join(root, "node_modules/.bin/buf"), ["lint"], { cwd: root });
  expect(stdout + stderr).toBe("");
});
