import { afterAll, beforeAll, describe, expect, it } from "vitest";
import { TEST_CALLER_TOKEN, runCli, type ServingDaemon } from "../support/cli.js";
import type { FakeProvider } from "../support/fake-provider.js";
import { useFakeProvider } from "../support/scoped-fakes.js";
import { tempDir } from "../support/temp-dir.js";
import { LINK_ONLY_TOKEN, importLinks, startCliDaemon } from "./cli-daemon.js";

/**
 * Issue 14: every documented exit code comes from the case it names, with the
 * built CLI against a daemon process (README "Exit codes"). With --json the
 * error is one JSON object on stderr and stdout stays empty.
 */

interface JsonError {
  code: string;
  reason: string;
  message: string;
  retry_after: number | null;
}

function jsonError(stderr: string): JsonError {
  const lines = stderr.trim().split("\n");
  expect(lines, stderr).toHaveLength(1);
  const parsed = JSON.parse(lines[0]!) as JsonError;
  expect(Object.keys(parsed)).toEqual(expect.arrayContaining(["code", "reason", "message", "retry_after"]));
  return parsed;
}

describe("exit codes by outcome", () => {
  let fake: FakeProvider;
  let daemon: ServingDaemon;
  let unix: string;
  let tcp: string;
  let refusedSeed: { accessToken: string; refreshToken: string; expiresAt: number };
  const token = (user: string, ...more: string[]) => runCli(["token", "--user", user, "--provider", "fake", "--addr", unix, ...more]);

  beforeAll(async () => {
    const dir = tempDir("tb-cli-exit-");
    fake = await useFakeProvider({ expiresInSec: 3600 });
    daemon = await startCliDaemon(dir, fake);
    unix = daemon.unixTarget!;
    tcp = `tcp://${daemon.tcpTarget!}`;
    refusedSeed = fake.issue({ accessTtlSec: 1 });
    await importLinks(unix, [
      { userId: "fresh", ...fake.issue({ accessTtlSec: 3600 }) },
      { userId: "refused", ...refusedSeed },
      { userId: "flaky", ...fake.issue({ accessTtlSec: 1 }) },
      { userId: "limited", ...fake.issue({ accessTtlSec: 1 }) },
    ]);
  });
  afterAll(async () => {
    await daemon?.stop();
  });

  it("0: a token", async () => {
    const r = await token("fresh");
    expect(r.code, r.stderr).toBe(0);
    expect(fake.isValid(r.stdout.trim())).toBe(true);
  });

  it("3: REAUTH_REQUIRED when the provider refuses the refresh token", async () => {
    fake.failNext(1, { oauthError: "invalid_grant", description: "the refresh token was revoked" });
    const r = await token("refused");
    expect(r.code, r.stderr).toBe(3);
    expect(r.stdout).toBe("");
    expect(r.stderr).toContain("REAUTH_REQUIRED");
    expect(r.stderr).toContain("provider said: invalid_grant: the refresh token was revoked");
    expect(r.stderr).toMatch(/hint: .*tokenbroker link/);
    const j = await token("refused", "--json");
    expect(j.code).toBe(3);
    expect(j.stdout).toBe("");
    expect(jsonError(j.stderr)).toMatchObject({ code: "FAILED_PRECONDITION", reason: "REAUTH_REQUIRED", retry_after: null });
    for (const out of [r.stderr, j.stderr]) {
      expect(out).not.toContain(refusedSeed.refreshToken);
      expect(out).not.toContain(refusedSeed.accessToken);
    }
  });

  it("4: PROVIDER_UNAVAILABLE after the retries, with retry_after", async () => {
    fake.failNext(200, { status: 503 });
    try {
      const r = await token("flaky", "--json");
      expect(r.code, r.stderr).toBe(4);
      const e = jsonError(r.stderr);
      expect(e).toMatchObject({ code: "UNAVAILABLE", reason: "PROVIDER_UNAVAILABLE" });
      expect(e.retry_after).toBeGreaterThan(0);
    } finally {
      fake.tokenFaults.length = 0;
    }
  });

  it("4: PROVIDER_RATE_LIMITED", async () => {
    fake.failNext(200, { status: 429, retryAfterSec: 120 });
    try {
      const r = await token("limited");
      expect(r.code, r.stderr).toBe(4);
      expect(r.stderr).toMatch(/^tokenbroker: PROVIDER_RATE_LIMITED: /);
      expect(r.stderr).toMatch(/retry after: \d+(\.\d+)?s/);
    } finally {
      fake.tokenFaults.length = 0;
    }
  });

  it("4: the daemon is not running — one line naming the address", async () => {
    const addr = `unix://${tempDir()}/nothing-here.sock`;
    const r = await runCli(["token", "--user", "u", "--provider", "fake", "--addr", addr]);
    expect(r.code).toBe(4);
    expect(r.stderr).toBe(`tokenbroker: cannot reach the daemon at ${addr}; is it running? set TOKENBROKER_ADDR\n`);
    const refused = await runCli(["links", "--json", "--addr", "tcp://127.0.0.1:9"]);
    expect(refused.code).toBe(4);
    expect(jsonError(refused.stderr)).toMatchObject({ code: "UNAVAILABLE", reason: "DAEMON_UNREACHABLE", message: "cannot reach the daemon at tcp://127.0.0.1:9 (connection refused); is it running? set TOKENBROKER_ADDR" });
  });

  it("4: without --addr or TOKENBROKER_ADDR the default address is tried (the dev socket here) and named", async () => {
    const r = await runCli(["links"], { cwd: tempDir(), env: { TOKENBROKER_ADDR: "" } });
    expect(r.code).toBe(4);
    // The system socket exists only on an installed host; this machine has none.
    expect(r.stderr).toBe("tokenbroker: cannot reach the daemon at unix://./var/dev/tokenbroker.sock; is it running? set TOKENBROKER_ADDR\n");
  });

  it("5: no such link, no such provider", async () => {
    const link = await token("nobody");
    expect(link.code).toBe(5);
    expect(link.stderr).toContain("LINK_NOT_FOUND");
    const provider = await runCli(["token", "--user", "fresh", "--provider", "nope", "--addr", unix, "--json"]);
    expect(provider.code).toBe(5);
    expect(jsonError(provider.stderr)).toMatchObject({ code: "NOT_FOUND", reason: "PROVIDER_NOT_FOUND" });
    const unlink = await runCli(["unlink", "--user", "nobody", "--provider", "fake", "--addr", unix]);
    expect(unlink.code).toBe(5);
  });

  it("6: no caller token on TCP, a caller without the scope", async () => {
    const anonymous = await runCli(["token", "--user", "fresh", "--provider", "fake", "--addr", tcp]);
    expect(anonymous.code).toBe(6);
    expect(anonymous.stderr).toContain("CALLER_UNKNOWN");
    const linker = await runCli(["token", "--user", "fresh", "--provider", "fake", "--addr", tcp, "--caller-token", LINK_ONLY_TOKEN, "--json"]);
    expect(linker.code).toBe(6);
    expect(jsonError(linker.stderr)).toMatchObject({ code: "PERMISSION_DENIED", reason: "SCOPE_MISSING" });
    const allowed = await runCli(["token", "--user", "fresh", "--provider", "fake", "--addr", tcp], { env: { TOKENBROKER_CALLER_TOKEN: TEST_CALLER_TOKEN } });
    expect(allowed.code, allowed.stderr).toBe(0);
  });

  it("2: bad usage, a bad address, a request the daemon calls invalid", async () => {
    const missing = await runCli(["token", "--user", "fresh", "--addr", unix]);
    expect(missing.code).toBe(2);
    expect(missing.stderr).toContain("--provider is required");
    const badAddr = await runCli(["token", "--user", "fresh", "--provider", "fake", "--addr", "localhost:7480"]);
    expect(badAddr.code).toBe(2);
    expect(badAddr.stderr).toContain('--addr "localhost:7480": unknown scheme');
    const badEnv = await runCli(["links"], { env: { TOKENBROKER_ADDR: "tcp://127.0.0.1" } });
    expect(badEnv.code).toBe(2);
    expect(badEnv.stderr).toContain('TOKENBROKER_ADDR "tcp://127.0.0.1": expected tcp://host:port');
    const invalid = await token("x".repeat(300), "--json");
    expect(invalid.code).toBe(2);
    expect(jsonError(invalid.stderr)).toMatchObject({ code: "INVALID_ARGUMENT", reason: "INVALID_ARGUMENT" });
  });

  it("1: another failure (the provider's tokens cannot live as long as asked)", async () => {
    const r = await token("fresh", "--min-valid", "2h");
    expect(r.code, r.stderr).toBe(1);
    expect(r.stderr).toContain("MIN_VALIDITY_UNREACHABLE");
  });
});
