/**
 * `tokenbroker token --watch / --file / --exec` against a daemon process
 * (issue 22 item 4): 6 s tokens from the fake provider, --min-valid 2s, so a
 * rotation comes every ~3 s. --watch --json prints one JSON object per
 * rotation; --file is rewritten on each rotation and a reader polling it
 * never sees a partial file, mode 0600, removed on SIGTERM; --exec runs a
 * command that sees a valid token in its environment and the file beside
 * it, and exits with its code; failures exit per the README's table.
 */
import { spawn, type ChildProcess } from "node:child_process";
import { existsSync, readFileSync, statSync } from "node:fs";
import { join } from "node:path";
import { timestampFromMs } from "@bufbuild/protobuf/wkt";
import { afterAll, beforeAll, describe, expect, it } from "vitest";
import { LinkService } from "../../gen/tokenbroker/v1/link_service_pb.js";
import { CLI, TEST_CALLERS, runCli, startServe, type ServingDaemon } from "../support/cli.js";
import type { FakeProvider } from "../support/fake-provider.js";
import { grpcClient, unary } from "../support/grpc.js";
import { pollUntil } from "../support/poll.js";
import { useFakeProvider } from "../support/scoped-fakes.js";
import { tempDir } from "../support/temp-dir.js";

const TTL_SEC = 6;

describe("token --watch, --file, --exec", () => {
  let dir: string;
  let fake: FakeProvider;
  let daemon: ServingDaemon;
  let addr: string;
  let config: Record<string, unknown>;
  /** Every daemon's output, the restarted one's too. */
  let outputs: string[] = [];

  beforeAll(async () => {
    dir = tempDir();
    fake = await useFakeProvider({ expiresInSec: TTL_SEC });
    config = {
      listen: { grpc: [`unix://${dir}/tb.sock`] },
      store: { sqlite: { path: `${dir}/tb.db` } },
      encryption: { keys_file: `${dir}/keys` },
      refresh: { timeout: "2s", retry_budget: "1s", initial_backoff: "50ms", max_backoff: "200ms" },
      shutdown_grace: "3s",
      callers: TEST_CALLERS,
      providers: [{ id: "fake", type: "oauth2", client_id: fake.clientId, client_secret: fake.clientSecret, token_url: fake.tokenUrl }],
    };
    daemon = await startServe(config, dir);
    addr = daemon.unixTarget!;
  });
  afterAll(async () => daemon?.stop());

  async function importLink(userId: string, ttlSec = TTL_SEC): Promise<void> {
    const t = fake.issue({ accessTtlSec: ttlSec });
    const links = grpcClient(LinkService, addr);
    await unary(links, "importLink", { userId, providerId: "fake", accessToken: t.accessToken, refreshToken: t.refreshToken, expiresAt: timestampFromMs(t.expiresAt) });
    links.close();
  }

  function start(args: string[]): { child: ChildProcess; stdout: () => string; stderr: () => string; exited: Promise<number | null> } {
    const child = spawn(process.execPath, [CLI, "token", "--addr", addr, "--provider", "fake", "--min-valid", "2s", ...args], { stdio: ["ignore", "pipe", "pipe"] });
    let out = "";
    let err = "";
    child.stdout!.on("data", (d: Buffer) => (out += d.toString()));
    child.stderr!.on("data", (d: Buffer) => (err += d.toString()));
    const exited = new Promise<number | null>((r) => child.on("exit", (code) => r(code)));
    return { child, stdout: () => out, stderr: () => err, exited };
  }

  it("--watch --json prints one JSON object per rotation", { timeout: 30_000 }, async () => {
    await importLink("jsonl");
    const before = fake.refreshes;
    const run = start(["--user", "jsonl", "--watch", "--json"]);
    await pollUntil("three rotations printed", () => run.stdout().split("\n").filter(Boolean).length, (n) => n >= 4, 20_000);
    run.child.kill("SIGTERM");
    expect(await run.exited).toBe(0);
    const refreshes = fake.refreshes - before;
    const lines = run.stdout().split("\n").filter(Boolean);
    const objects = lines.map((l) => JSON.parse(l) as { access_token: string; expires_at: string; generation: string });
    expect(new Set(objects.map((o) => o.access_token)).size, "each line a new token").toBe(objects.length);
    expect(objects.length - 1, "one line per rotation, one rotation per provider refresh").toBe(refreshes);
    for (const o of objects) expect(Object.keys(o).sort()).toEqual(["access_token", "expires_at", "extra", "generation", "token_type"]);
    for (const [i, o] of objects.entries()) if (i > 0) expect(BigInt(o.generation) > BigInt(objects[i - 1]!.generation)).toBe(true);
    expect(run.stderr()).toBe("");
  });

  it("--file is rewritten atomically on every rotation (a polling reader never sees a partial file), mode 0600, removed on SIGTERM", { timeout: 30_000 }, async () => {
    await importLink("filed");
    const path = join(dir, "token-file");
    const run = start(["--user", "filed", "--file", path]);
    const seen = new Set<string>();
    const reads: string[] = [];
    const t0 = performance.now();
    while (seen.size < 4 && performance.now() - t0 < 20_000) {
      try {
        const text = readFileSync(path, "utf8");
        reads.push(text);
        seen.add(text);
      } catch (err) {
        if ((err as NodeJS.ErrnoException).code !== "ENOENT") throw err;
      }
      await new Promise((r) => setTimeout(r, 2));
    }
    expect(seen.size, "four tokens in the file").toBeGreaterThanOrEqual(4);
    const issued = new Set(fake.issuedTokens());
    for (const r of reads) expect(issued.has(r), `a read that is not a whole token (${r.length} bytes)`).toBe(true);
    expect(statSync(path).mode & 0o777).toBe(0o600);
    expect(run.stdout()).toBe("");
    for (const t of fake.issuedTokens()) expect(run.stderr().includes(t), "a token value on stderr").toBe(false);
    run.child.kill("SIGTERM");
    expect(await run.exited).toBe(0);
    expect(existsSync(path), "the file is removed on exit").toBe(false);
  });

  it("--file outlives a daemon restart: the CLI reconnects to the new daemon while its token still works, the file in place", { timeout: 40_000 }, async () => {
    // A token that outlives a slow restart on a loaded host: the CLI gives up only once its token is about to run out.
    await importLink("restart", 60);
    const path = join(dir, "restart-file");
    const run = start(["--user", "restart", "--file", path]);
    await pollUntil("the file", () => existsSync(path), (ok) => ok, 10_000);
    const before = readFileSync(path, "utf8");
    await daemon.stop();
    outputs = [...outputs, daemon.output()];
    daemon = await startServe(config, dir, { configName: "again.yaml" });
    // The CLI's stream is open on the new daemon (its audit line), and the file still holds the token.
    await pollUntil("the CLI watching through the new daemon", () => daemon.output(), (o) => o.includes('"event":"watch_start"') && o.includes('"user_id":"restart"'), 20_000);
    expect(run.stderr()).toContain("reconnecting");
    expect(readFileSync(path, "utf8")).toBe(before);
    expect(fake.isValid(before)).toBe(true);
    for (const t of fake.issuedTokens()) expect(run.stderr().includes(t), "a token value on stderr").toBe(false);
    run.child.kill("SIGTERM");
    expect(await run.exited).toBe(0);
    expect(existsSync(path)).toBe(false);
  });

  it("--exec runs a command that sees a valid token in TOKENBROKER_TOKEN and the same in the file TOKENBROKER_TOKEN_FILE names; exits with its code; the private file is gone after", async () => {
    await importLink("execd");
    const script = 'printf "%s\\n%s\\n%s\\n" "$TOKENBROKER_TOKEN" "$(cat "$TOKENBROKER_TOKEN_FILE")" "$TOKENBROKER_TOKEN_FILE"; exit 7';
    const res = await runCli(["token", "--addr", addr, "--user", "execd", "--provider", "fake", "--min-valid", "2s", "--exec", "--", "sh", "-c", script]);
    expect(res.code, res.stderr).toBe(7);
    const [env, file, path] = res.stdout.split("\n");
    expect(fake.isValid(env!)).toBe(true);
    expect(file).toBe(env);
    expect(existsSync(path!)).toBe(false);
  });

  it("an unlink while --exec runs stops the command (it must not go on with a token nobody refreshes) and exits 5; the file is gone", { timeout: 20_000 }, async () => {
    await importLink("cut");
    const path = join(dir, "cut-file");
    const run = start(["--user", "cut", "--file", path, "--exec", "--", process.execPath, "-e", "setTimeout(() => {}, 30000)"]);
    await pollUntil("the file", () => existsSync(path), (ok) => ok, 10_000);
    const links = grpcClient(LinkService, addr);
    const t0 = performance.now();
    await unary(links, "unlink", { userId: "cut", providerId: "fake" });
    links.close();
    expect(await run.exited).toBe(5);
    expect(performance.now() - t0, "the command was stopped, not waited out").toBeLessThan(10_000);
    expect(run.stderr()).toContain("LINK_NOT_FOUND");
    expect(existsSync(path)).toBe(false);
  });

  it("--help says an environment variable cannot change under a running process; a missing link exits 5; bad combinations are usage errors", async () => {
    const help = await runCli(["token", "--help"]);
    expect(help.stdout.replace(/\s+/g, " ")).toContain("An environment variable cannot change under a running process");
    const missing = await runCli(["token", "--addr", addr, "--user", "nobody", "--provider", "fake", "--watch"]);
    expect(missing.code).toBe(5);
    expect(missing.stderr).toContain("LINK_NOT_FOUND");
    const both = await runCli(["token", "--addr", addr, "--user", "u", "--provider", "fake", "--watch", "--exec", "--", "true"]);
    expect(both.code).toBe(2);
    const noCommand = await runCli(["token", "--addr", addr, "--user", "u", "--provider", "fake", "--exec"]);
    expect(noCommand.code).toBe(2);
    expect(noCommand.stderr).toContain("--exec needs a command");
  });

  it("no token value in the daemons' output", () => {
    const output = [...outputs, daemon.output()].join("");
    for (const t of fake.issuedTokens()) expect(output.includes(t)).toBe(false);
  });
});
