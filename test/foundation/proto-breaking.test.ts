/**
 * `buf breaking` guards the wire contract (README "buf breaking"): `npm test`
 * runs it against buf/breaking-baseline.binpb. Here: the tree passes, and the
 * gate can fail — a copy of proto/ with a field deleted is refused, naming it.
 */
import { execFile } from "node:child_process";
import { cpSync, readFileSync, writeFileSync } from "node:fs";
import { join, resolve } from "node:path";
import { promisify } from "node:util";
import { expect, it } from "vitest";
import { tempDir } from "../support/temp-dir.js";

const run = promisify(execFile);
const root = resolve(import.meta.dirname, "../..");
const BUF = join(root, "node_modules/.bin/buf");
const BASELINE = join(root, "buf/breaking-baseline.binpb");

async function breaking(cwd: string): Promise<{ code: number; out: string }> {
  try {
    const { stdout, stderr } = await run(BUF, ["breaking", "--against", BASELINE], { cwd });
    return { code: 0, out: stdout + stderr };
  } catch (e) {
    const err = e as { code: number; stdout: string; stderr: string };
    return { code: err.code, out: err.stdout + err.stderr };
  }
}

it("proto/ is not breaking against the committed baseline", async () => {
  expect(await breaking(root)).toEqual({ code: 0, out: "" });
});

it("deleting a field is refused", async () => {
  const copy = tempDir("tb-breaking-");
  cpSync(join(root, "proto"), join(copy, "proto"), { recursive: true });
  cpSync(join(root, "buf.yaml"), join(copy, "buf.yaml"));
  const file = join(copy, "proto/tokenbroker/v1/token.proto");
  const source = readFileSync(file, "utf8");
  const edited = source.replace(/\n\s*string token_type = 2;/, "");
  expect(edited).not.toBe(source);
  writeFileSync(file, edited);
  const res = await breaking(copy);
  expect(res.code).not.toBe(0);
  expect(res.out).toContain('Previously present field "2" with name "token_type" on message "Token" was deleted.');
});
