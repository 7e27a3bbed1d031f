import { spawn } from "node:child_process";
import { createServer } from "node:http";
import type { AddressInfo } from "node:net";
import { join } from "node:path";
import { expect, it } from "vitest";
import { CLI, assertBuilt, runCli } from "../support/cli.js";
import { tempDir } from "../support/temp-dir.js";

it("dev mode serves a demo link that the token command prints, refreshing it when asked for more validity", async () => {
  assertBuilt();
  const dir = join(tempDir(), "dev");
  const child = spawn(process.execPath, [CLI, "dev", "--dir", dir, "--grpc-port", "0", "--http-port", "0"], { stdio: ["ignore", "pipe", "pipe"] });
  let output = "";
  child.stdout.on("data", (d: Buffer) => (output += d.toString()));
  child.stderr.on("data", (d: Buffer) => (output += d.toString()));
  const exited = new Promise<number | null>((r) => child.on("exit", (c) => r(c)));
  try {
    await new Promise<void>((resolve, reject) => {
      const timer = setTimeout(() => reject(new Error(`dev mode did not start:\n${output}`)), 20_000);
      const check = setInterval(() => {
        if (output.includes("try:")) {
          clearTimeout(timer);
          clearInterval(check);
          resolve();
        }
      }, 50);
    });
    // The CLI that started it: node dist/src/main.js from the checkout, never npx (issue 23 item 4).
    expect(output).toContain("node dist/src/main.js token --user demo --provider demo");
    expect(output).not.toContain("npx");
    const addr = `unix://${dir}/tokenbroker.sock`;
    const first = await runCli(["token", "--user", "demo", "--provider", "demo", "--addr", addr]);
    expect(first.code).toBe(0);
    expect(first.stdout).toMatch(/^demo_at_\S+\n$/);
    const again = await runCli(["token", "--user", "demo", "--provider", "demo"], { env: { TOKENBROKER_ADDR: addr } });
    expect(again.stdout).toBe(first.stdout);
    // The seeded demo token has a minute left: asking for 90 s refreshes it (demo tokens live 2 minutes).
    const refreshed = await runCli(["token", "--user", "demo", "--provider", "demo", "--addr", addr, "--min-valid", "90s", "--json"]);
    expect(refreshed.code).toBe(0);
    const parsed = JSON.parse(refreshed.stdout) as { access_token: string; expires_at: string };
    expect(parsed.access_token).not.toBe(first.stdout.trim());
    expect(Date.parse(parsed.expires_at)).toBeGreaterThan(Date.now() + 60_000);
    // Asking for more than the provider ever issues is an answer, not a refresh per call.
    const unreachable = await runCli(["token", "--user", "demo", "--provider", "demo", "--addr", addr, "--min-valid", "5m"]);
    expect(unreachable.code).toBe(1);
    expect(unreachable.stderr).toContain("MIN_VALIDITY_UNREACHABLE");
    const missing = await runCli(["token", "--user", "nobody", "--provider", "demo", "--addr", addr]);
    expect(missing.code).toBe(5);
    expect(missing.stdout).toBe("");
    expect(missing.stderr).toContain("LINK_NOT_FOUND");
  } finally {
    child.kill("SIGTERM");
    expect(await exited).toBe(0);
  }
});

async function freePort(): Promise<number> {
  const server = createServer();
  await new Promise<void>((r) => server.listen(0, "127.0.0.1", () => r()));
  const port = (server.address() as AddressInfo).port;
  await new Promise<void>((r) => server.close(() => r()));
  return port;
}

it("dev mode's demo provider links out of the box: the authorize URL (auto-approved) and the device flow, from the checkout's default address", async () => {
  assertBuilt();
  const cwd = tempDir("tb-dev-link-");
  const httpPort = await freePort();
  const child = spawn(process.execPath, [CLI, "dev", "--grpc-port", "0", "--http-port", String(httpPort)], { cwd, stdio: ["ignore", "pipe", "pipe"] });
  let output = "";
  child.stdout.on("data", (d: Buffer) => (output += d.toString()));
  child.stderr.on("data", (d: Buffer) => (output += d.toString()));
  const exited = new Promise<number | null>((r) => child.on("exit", (c) => r(c)));
  // No --addr, no TOKENBROKER_ADDR: the CLI finds ./var/dev/tokenbroker.sock under the checkout.
  const env = { TOKENBROKER_ADDR: "" };
  try {
    await new Promise<void>((resolve, reject) => {
      const timer = setTimeout(() => reject(new Error(`dev mode did not start:\n${output}`)), 20_000);
      const check = setInterval(() => {
        if (output.includes("try:")) {
          clearTimeout(timer);
          clearInterval(check);
          resolve();
        }
      }, 50);
    });
    expect(output).toContain("tokenbroker link --user me --provider demo");

    const link = await runCli(["link", "--user", "me", "--provider", "demo"], { cwd, env });
    expect(link.code, link.stderr).toBe(0);
    const authorize = await fetch(link.stdout.trim(), { redirect: "manual" });
    expect(authorize.status).toBe(302);
    const callback = authorize.headers.get("location")!;
    expect(callback.startsWith(`http://127.0.0.1:${httpPort}/oauth/demo/callback?`)).toBe(true);
    const page = await fetch(callback, { redirect: "manual" });
    expect(page.status).toBe(200);
    const token = await runCli(["token", "--user", "me", "--provider", "demo"], { cwd, env });
    expect(token.code, token.stderr).toBe(0);
    expect(token.stdout).toMatch(/^demo_at_\S+\n$/);
    // The code was single-use: the same callback again stores nothing and says so.
    expect((await fetch(callback, { redirect: "manual" })).status).toBe(400);

    const device = spawn(process.execPath, [CLI, "link", "--user", "pat", "--provider", "demo", "--device"], { cwd, env: { ...process.env, ...env }, stdio: ["ignore", "pipe", "pipe"] });
    let deviceOut = "";
    const deviceExit = new Promise<number | null>((r) => device.on("exit", (c) => r(c)));
    let devicePrompt = "";
    device.stdout.on("data", (d: Buffer) => (deviceOut += d.toString()));
    // The prompt is on stderr (issue 23 item 11).
    const shown = new Promise<string>((resolve) => {
      device.stderr.on("data", (d: Buffer) => {
        devicePrompt += d.toString();
        const m = /go to (\S+) and enter the code (\S+)/.exec(devicePrompt);
        if (m !== null) resolve(m[1]!);
      });
    });
    const approve = await fetch(await shown);
    expect(approve.status).toBe(200);
    expect(await approve.text()).toContain("Approved");
    expect(await deviceExit).toBe(0);
    expect(deviceOut).toBe("linked pat to demo\n");
    const deviceToken = await runCli(["token", "--user", "pat", "--provider", "demo", "--json"], { cwd, env });
    expect(deviceToken.code, deviceToken.stderr).toBe(0);
    expect((JSON.parse(deviceToken.stdout) as { access_token: string }).access_token).toMatch(/^demo_at_/);
  } finally {
    child.kill("SIGTERM");
    expect(await exited).toBe(0);
  }
});
