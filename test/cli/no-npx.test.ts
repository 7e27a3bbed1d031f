import { execFile, spawn } from "node:child_process";
import { readFileSync, readdirSync, statSync, symlinkSync } from "node:fs";
import { join, resolve } from "node:path";
import { promisify } from "node:util";
import { expect, it } from "vitest";
import { COMMANDS, CLIENT_OPTIONS } from "../../src/cli/commands.js";
import { commandHelp, topLevelHelp } from "../../src/cli/help.js";
import { cliInvocation } from "../../src/cli/invocation.js";
import { assertBuilt } from "../support/cli.js";
import { tempDir } from "../support/temp-dir.js";

// Issue 23 item 4: `npx tokenbroker` outside the checkout asks the public registry
// for a package of that name, which is not this project. No instruction or output
// of the project may run it; `npx NAME` is fine only for a package the checkout
// itself installs (it resolves to node_modules/.bin there).

const ROOT = resolve(import.meta.dirname, "../..");
const pkg = JSON.parse(readFileSync(join(ROOT, "package.json"), "utf8")) as { dependencies?: Record<string, string>; devDependencies?: Record<string, string> };
const installed = new Set([...Object.keys(pkg.dependencies ?? {}), ...Object.keys(pkg.devDependencies ?? {}), "tsc", "vitest", "buf", "depcruise"]);

/** Every `npx NAME` in `text` whose NAME the checkout does not install, with its line. */
function foreignNpx(text: string): string[] {
  const out: string[] = [];
  for (const line of text.split("\n")) {
    for (const m of line.matchAll(/\bnpx\s+(?:-[-\w=]+\s+)*([@\w./-]+)/g)) {
      if (!installed.has(m[1] as string)) out.push(line.trim());
    }
  }
  return out;
}

function markdownFiles(dir: string): string[] {
  return readdirSync(dir).flatMap((name) => {
    if (name === "node_modules" || name.startsWith(".") || name === "dist" || name === "var") return [];
    const path = join(dir, name);
    if (statSync(path).isDirectory()) return markdownFiles(path);
    return name.endsWith(".md") ? [path] : [];
  });
}

it("the scan finds what it looks for", () => {
  expect(foreignNpx("run\n  npx tokenbroker token --user demo\n npx vitest run")).toEqual(["npx tokenbroker token --user demo"]);
  expect(foreignNpx("npx --yes tokenbroker status")).toEqual(["npx --yes tokenbroker status"]);
});

it("no README or doc line runs npx on a package the checkout does not install", () => {
  const found = markdownFiles(ROOT).flatMap((f) => foreignNpx(readFileSync(f, "utf8")).map((l) => `${f.slice(ROOT.length + 1)}: ${l}`));
  expect(found).toEqual([]);
});

it("no help text runs npx", () => {
  const texts = [topLevelHelp(COMMANDS), ...COMMANDS.map((c) => commandHelp(c, [...c.options, ...(c.client === true ? CLIENT_OPTIONS : [])]))];
  expect(texts.flatMap(foreignNpx)).toEqual([]);
  expect(texts.join("\n")).not.toContain("npx");
});

it("instructions name node dist/src/main.js in a checkout and the tokenbroker binary elsewhere", () => {
  expect(cliInvocation("/home/u/tokenbroker/dist/src/main.js", "/home/u/tokenbroker")).toBe("node dist/src/main.js");
  expect(cliInvocation("/usr/lib/tokenbroker/dist/src/main.js", "/home/u")).toBe("tokenbroker");
  expect(cliInvocation("/usr/bin/tokenbroker", "/usr/bin")).toBe("tokenbroker");
});

it("the README's quick start runs as written from a checkout: dev mode's banner names no npx, and each client command answers", async () => {
  assertBuilt();
  // A checkout as the quick start has it: dist/ built, var/dev made by dev mode.
  const cwd = tempDir("tb-quickstart-");
  symlinkSync(join(ROOT, "dist"), join(cwd, "dist"));
  symlinkSync(join(ROOT, "node_modules"), join(cwd, "node_modules"));
  symlinkSync(join(ROOT, "package.json"), join(cwd, "package.json"));
  const readme = readFileSync(join(ROOT, "README.md"), "utf8");
  const block = /Then, in another terminal[\s\S]*?```sh\n([\s\S]*?)```/.exec(readme)?.[1] ?? "";
  const commands = block.split("\n").filter((l) => l.startsWith("node dist/src/main.js"));
  expect(commands.length).toBeGreaterThanOrEqual(5);
  // The ports are the only change from `npm start`: others may be using 7480/7481 on this machine.
  const child = spawn(process.execPath, ["dist/src/main.js", "dev", "--grpc-port", "0", "--http-port", "0"], { cwd, stdio: ["ignore", "pipe", "pipe"] });
  let output = "";
  child.stdout.on("data", (d: Buffer) => (output += d.toString()));
  child.stderr.on("data", (d: Buffer) => (output += d.toString()));
  const exited = new Promise<number | null>((r) => child.on("exit", (c) => r(c)));
  try {
    await new Promise<void>((res, rej) => {
      const timer = setTimeout(() => rej(new Error(`dev mode did not start:\n${output}`)), 30_000);
      const check = setInterval(() => {
        if (/try:[\s\S]*ObtainAccessToken/.test(output)) {
          clearTimeout(timer);
          clearInterval(check);
          res();
        }
      }, 50);
    });
    expect(foreignNpx(output)).toEqual([]);
    expect(output).toContain("node dist/src/main.js token --user demo --provider demo");
    const results: Array<{ command: string; code: number; stdout: string; stderr: string }> = [];
    for (const command of commands) {
      const r = await promisify(execFile)("bash", ["-c", command], { cwd, env: { ...process.env, TOKENBROKER_ADDR: "" } }).then(
        (o) => ({ code: 0, stdout: o.stdout, stderr: o.stderr }),
        (e: { code: number; stdout: string; stderr: string }) => ({ code: e.code, stdout: e.stdout, stderr: e.stderr }),
      );
      results.push({ command, ...r });
    }
    const byArgs = (re: RegExp) => results.find((r) => re.test(r.command))!;
    expect(byArgs(/token --user demo --provider demo\s+#/)).toMatchObject({ code: 0, stdout: expect.stringMatching(/^demo_at_\S+\n$/) });
    expect(byArgs(/--min-valid 90s --json/)).toMatchObject({ code: 0, stdout: expect.stringContaining('"access_token"') });
    expect(byArgs(/--min-valid 5m/)).toMatchObject({ code: 1, stderr: expect.stringContaining("MIN_VALIDITY_UNREACHABLE") });
    expect(byArgs(/link --user me/)).toMatchObject({ code: 0, stdout: expect.stringMatching(/^http:\/\/127\.0\.0\.1:\d+\/\S*authorize\S*\n$/) });
    expect(byArgs(/ status/)).toMatchObject({ code: 0, stdout: expect.stringContaining("health:     SERVING") });
    for (const r of results) expect(foreignNpx(r.stdout + r.stderr), r.command).toEqual([]);
  } finally {
    child.kill("SIGTERM");
    await exited;
  }
});
