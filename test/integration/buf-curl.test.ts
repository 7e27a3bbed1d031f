/**
 * README "Checking it works": the `buf curl` commands it shows, run as
 * written (only `npx buf` becomes node_modules' buf and the dev ports the
 * ones this daemon got) from a directory laid out like the checkout, against
 * `tokenbroker dev`. A command that stops working fails here, not for a user.
 */
import { execFile, spawn } from "node:child_process";
import { readFileSync, symlinkSync } from "node:fs";
import { join, resolve } from "node:path";
import { promisify } from "node:util";
import { afterAll, beforeAll, describe, expect, it } from "vitest";
import { CLI, assertBuilt } from "../support/cli.js";
import { tempDir } from "../support/temp-dir.js";

const run = promisify(execFile);
const root = resolve(import.meta.dirname, "../..");
const BUF = join(root, "node_modules/.bin/buf");

/** The commands of README "Checking it works", continuation lines joined. */
function documentedCommands(): string[] {
  const readme = readFileSync(join(root, "README.md"), "utf8");
  const section = readme.slice(readme.indexOf("### Checking it works"));
  const block = /```sh\n([\s\S]*?)```/.exec(section)![1]!;
  return block
    .replace(/\\\n\s*/g, "")
    .split("\n")
    .filter((l) => l.trim() !== "" && !l.startsWith("#"));
}

describe("README's buf curl commands against tokenbroker dev", () => {
  let cwd: string;
  let ports: { grpc: string; http: string };
  let stop: () => Promise<number | null>;
  beforeAll(async () => {
    assertBuilt();
    cwd = tempDir("tb-bufcurl-");
    symlinkSync(join(root, "proto"), join(cwd, "proto"));
    const child = spawn(process.execPath, [CLI, "dev", "--dir", "var/dev", "--grpc-port", "0", "--http-port", "0"], { cwd, stdio: ["ignore", "pipe", "pipe"] });
    let output = "";
    child.stdout.on("data", (d: Buffer) => (output += d.toString()));
    child.stderr.on("data", (d: Buffer) => (output += d.toString()));
    const exited = new Promise<number | null>((r) => child.on("exit", (c) => r(c)));
    stop = () => (child.kill("SIGTERM"), exited);
    await new Promise<void>((ok, fail) => {
      const timer = setTimeout(() => fail(new Error(`dev mode did not start:\n${output}`)), 20_000);
      const check = setInterval(() => {
        const m = /gRPC: +unix:\S+ +and +tcp:\/\/127\.0\.0\.1:(\d+)\n +Connect: +http:\/\/127\.0\.0\.1:(\d+)/.exec(output);
        if (m === null || !output.includes("try:")) return;
        clearTimeout(timer);
        clearInterval(check);
        ports = { grpc: m[1]!, http: m[2]! };
        ok();
      }, 50);
    });
  });
  afterAll(async () => {
    expect(await stop()).toBe(0);
  });

  async function sh(command: string): Promise<{ code: number; stdout: string; stderr: string }> {
    const line = command.replaceAll("npx buf ", `${BUF} `).replaceAll("127.0.0.1:7480", `127.0.0.1:${ports.grpc}`).replaceAll("127.0.0.1:7481", `127.0.0.1:${ports.http}`);
    try {
      const { stdout, stderr } = await run("sh", ["-c", line], { cwd, timeout: 30_000 });
      return { code: 0, stdout, stderr };
    } catch (e) {
      const err = e as { code: number; stdout: string; stderr: string };
      return { code: err.code, stdout: err.stdout, stderr: err.stderr };
    }
  }

  it("documents the Unix socket, TCP with a caller token, the web listener and an error", () => {
    const commands = documentedCommands();
    expect(commands).toHaveLength(5);
    expect(commands.filter((c) => c.includes("--unix-socket ./var/dev/tokenbroker.sock"))).toHaveLength(3);
    expect(commands.some((c) => c.includes("127.0.0.1:7480") && c.includes("authorization: Bearer $(cat var/dev/caller-token)"))).toBe(true);
    expect(commands.some((c) => c.includes("127.0.0.1:7481") && c.includes("--schema proto --protocol connect"))).toBe(true);
  });

  it("each works as documented", async () => {
    const [unix, list, tcp, web, error] = documentedCommands();
    for (const [what, command] of [
      ["unix", unix!],
      ["tcp", tcp!],
      ["web", web!],
    ] as const) {
      const out = await sh(command);
      expect(out.code, `${what}: ${out.stderr}`).toBe(0);
      expect((JSON.parse(out.stdout) as { token: { accessToken: string } }).token.accessToken, what).toMatch(/^demo_at_/);
    }
    const services = await sh(list!);
    expect(services.code, services.stderr).toBe(0);
    expect(services.stdout).toContain("tokenbroker.v1.TokenService");
    const failed = await sh(error!);
    expect(failed.code).toBe(40);
    // buf curl writes an error's status to stderr.
    const body = JSON.parse(failed.stderr) as { code: string; details: Array<{ type: string }> };
    expect(body.code).toBe("not_found");
    expect(body.details.map((d) => d.type)).toEqual(["google.rpc.ErrorInfo", "google.rpc.Help"]);
  });

  it("the web listener: gRPC-Web works with --schema too; without --schema buf curl fails to find the service, as the README explains", async () => {
    const web = documentedCommands()[3]!;
    const grpcWeb = await sh(web.replace("--protocol connect", "--protocol grpcweb"));
    expect(grpcWeb.code, grpcWeb.stderr).toBe(0);
    const reflective = await sh(web.replace("--schema proto ", ""));
    expect(reflective.code).not.toBe(0);
    expect(reflective.stderr).toContain("failed to find service");
  });
});
