import { spawn } from "node:child_process";
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
    expect(output).toContain("tokenbroker token --user demo --provider demo");
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
