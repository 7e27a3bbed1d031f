/**
 * `tokenbroker git-credential` under real git (issue 21 item 3): a loopback
 * smart-HTTP server (git http-backend) that accepts only the fake provider's
 * currently valid access token, a daemon process holding the link, and git
 * configured once (`credential.helper "tokenbroker git-credential"`, as the
 * README says) in a HOME of the test's own.
 */
import { cpSync, readFileSync } from "node:fs";
import { afterAll, beforeAll, describe, expect, it } from "vitest";
import { TokenService } from "../../gen/tokenbroker/v1/token_service_pb.js";
import type { Token } from "../../gen/tokenbroker/v1/token_pb.js";
import { startServe, type ServingDaemon } from "../support/cli.js";
import type { FakeProvider } from "../support/fake-provider.js";
import { grpcClient, unary } from "../support/grpc.js";
import { useFakeProvider } from "../support/scoped-fakes.js";
import { tempDir } from "../support/temp-dir.js";
import { bareRepo, startGitServer, type GitServer } from "./support/git-server.js";
import { gitEnv, helper, helperDaemonConfig, importLink, run, type Run } from "./support/helper-env.js";

describe("git through tokenbroker git-credential", () => {
  let dir: string;
  let fake: FakeProvider;
  let server: GitServer;
  let daemon: ServingDaemon;
  let env: NodeJS.ProcessEnv;
  let repoUrl: string;
  /** Everything git and the helper wrote on stderr in this file (no token may be in it). */
  const stderrs: string[] = [];

  const git = async (args: string[], cwd?: string, extraEnv: NodeJS.ProcessEnv = {}): Promise<Run> => {
    const r = await run("git", args, { env: { ...env, ...extraEnv }, ...(cwd !== undefined ? { cwd } : {}) });
    stderrs.push(r.stderr);
    return r;
  };

  /** The token the daemon hands out now (no refresh unless it is due). */
  const current = async (): Promise<Token> => {
    const client = grpcClient(TokenService, daemon.unixTarget!);
    try {
      return (await unary<{ token: Token }>(client, "obtainAccessToken", { userId: "alice", providerId: "git" })).token;
    } finally {
      client.close();
    }
  };

  beforeAll(async () => {
    dir = tempDir("tb-git-");
    // GitHub's behaviour: a refresh kills the older access tokens, so the server takes only the newest.
    fake = await useFakeProvider({ supersedeAccess: true, expiresInSec: 3600 });
    const baseEnv = gitEnv(dir);
    bareRepo(`${dir}/srv`, "repo", baseEnv);
    server = await startGitServer(`${dir}/srv`, (token) => fake.isValid(token), baseEnv);
    daemon = await startServe(helperDaemonConfig(dir, fake, server.url), dir);
    env = gitEnv(dir, { TOKENBROKER_ADDR: daemon.unixTarget!, TOKENBROKER_USER: "alice" });
    repoUrl = `${server.url}/repo.git`;
    const configured = await run("git", ["config", "--global", "credential.helper", "tokenbroker git-credential"], { env });
    expect(configured.code, configured.stderr).toBe(0);
  });

  afterAll(async () => {
    await daemon?.stop();
    const issued = fake.issuedTokens();
    expect(issued.length).toBeGreaterThan(0);
    const output = `${stderrs.join("\n")}\n${daemon.output()}`;
    for (const t of issued) expect(output.includes(t), "a token value in stderr or the daemon's log").toBe(false);
  });

  it("git clone and git push succeed through the helper", async () => {
    const seed = fake.issue({ accessTtlSec: 3600 });
    await importLink(daemon.unixTarget!, "alice", "git", seed);
    const clone = await git(["clone", "-q", repoUrl, `${dir}/c1`]);
    expect(clone.code, clone.stderr).toBe(0);
    expect(readFileSync(`${dir}/c1/README`, "utf8")).toBe("hello\n");
    const accepted = server.requests.filter((r) => r.accepted);
    expect(accepted.length).toBeGreaterThan(0);
    expect(new Set(accepted.map((r) => r.token))).toEqual(new Set([seed.accessToken]));

    const push = await git(["-C", `${dir}/c1`, "-c", "user.name=job", "-c", "user.email=job@example.invalid", "commit", "-q", "--allow-empty", "-m", "from a job"]);
    expect(push.code, push.stderr).toBe(0);
    const pushed = await git(["-C", `${dir}/c1`, "push", "-q", "origin", "main"]);
    expect(pushed.code, pushed.stderr).toBe(0);
    const log = await run("git", ["--git-dir", `${dir}/srv/repo.git`, "log", "--format=%s", "-1", "main"], { env });
    expect(log.stdout.trim()).toBe("from a job");
    expect(fake.refreshes).toBe(0);
  });

  it("after the token rotates at the provider, the next git fetch succeeds with no user action", async () => {
    // A token 62 s from expiry: good for the clone (min_valid_for 60 s), due for a refresh 2 s later.
    const seed = fake.issue({ accessTtlSec: 62 });
    await importLink(daemon.unixTarget!, "alice", "git", seed);
    const clone = await git(["clone", "-q", repoUrl, `${dir}/c2`]);
    expect(clone.code, clone.stderr).toBe(0);
    while (seed.expiresAt - Date.now() >= 60_000) await new Promise((r) => setTimeout(r, 100));
    const before = fake.refreshes;
    const from = server.requests.length;
    const fetch = await git(["-C", `${dir}/c2`, "fetch", "-q", "origin"]);
    expect(fetch.code, fetch.stderr).toBe(0);
    expect(fake.refreshes - before).toBe(1);
    // The old token is dead at the provider (and so at the server); the fetch used the new one.
    expect(fake.isValid(seed.accessToken)).toBe(false);
    const now = (await current()).accessToken;
    expect(now).not.toBe(seed.accessToken);
    const used = server.requests.slice(from).filter((r) => r.accepted);
    expect(used.length).toBeGreaterThan(0);
    expect(new Set(used.map((r) => r.token))).toEqual(new Set([now]));
  });

  // 20 git processes, each starting the helper (a Node process): minutes on a loaded 2-core machine, not seconds.
  it("20 parallel git fetch processes right at token expiry: exactly 1 provider refresh, all succeed", { timeout: 180_000 }, async () => {
    const fresh = fake.issue({ accessTtlSec: 3600 });
    await importLink(daemon.unixTarget!, "alice", "git", fresh);
    const base = await git(["clone", "-q", repoUrl, `${dir}/p0`]);
    expect(base.code, base.stderr).toBe(0);
    for (let i = 1; i <= 20; i++) cpSync(`${dir}/p0`, `${dir}/p${i}`, { recursive: true });
    // Now the link's token has 30 s left: under min_valid_for, every get needs a refresh.
    const expiring = fake.issue({ accessTtlSec: 30 });
    await importLink(daemon.unixTarget!, "alice", "git", expiring);
    const before = fake.refreshes;
    const results = await Promise.all(Array.from({ length: 20 }, (_, i) => git(["-C", `${dir}/p${i + 1}`, "fetch", "-q", "origin"])));
    for (const r of results) expect(r.code, r.stderr).toBe(0);
    expect(fake.refreshes - before).toBe(1);
    expect(fake.replays).toBe(0);
  });

  it("the server rejects a token once (401): git calls erase, and the next get returns a refreshed token", async () => {
    const seed = fake.issue({ accessTtlSec: 3600 });
    await importLink(daemon.unixTarget!, "alice", "git", seed);
    const clone = await git(["clone", "-q", repoUrl, `${dir}/r1`]);
    expect(clone.code, clone.stderr).toBe(0);
    const before = fake.refreshes;
    server.rejectNext(1);
    const refused = await git(["-C", `${dir}/r1`, "fetch", "-q", "origin"]);
    expect(refused.code).not.toBe(0);
    expect(refused.stderr).toMatch(/Authentication failed/);
    // git erased the refused password through the helper: the daemon refreshed (the token was still the stored one).
    expect(fake.refreshes - before).toBe(1);
    const now = (await current()).accessToken;
    expect(now).not.toBe(seed.accessToken);
    const from = server.requests.length;
    const again = await git(["-C", `${dir}/r1`, "fetch", "-q", "origin"]);
    expect(again.code, again.stderr).toBe(0);
    expect(new Set(server.requests.slice(from).filter((r) => r.accepted).map((r) => r.token))).toEqual(new Set([now]));
    expect(fake.refreshes - before).toBe(1);
  });

  it("20 jobs erasing the same token: 1 refresh; erasing a token that is no longer the stored one: none", async () => {
    const seed = fake.issue({ accessTtlSec: 3600 });
    await importLink(daemon.unixTarget!, "alice", "git", seed);
    const host = new URL(server.url).host;
    const input = `protocol=http\nhost=${host}\npath=repo.git\nusername=oauth2\npassword=${seed.accessToken}\n\n`;
    const before = fake.refreshes;
    const erased = await Promise.all(Array.from({ length: 20 }, () => helper("erase", input, env)));
    for (const r of erased) {
      expect(r.code, r.stderr).toBe(0);
      expect(r.stdout).toBe("");
      stderrs.push(r.stderr);
    }
    expect(fake.refreshes - before).toBe(1);
    const now = (await current()).accessToken;
    expect(now).not.toBe(seed.accessToken);

    // The same dead token again, later: it is no longer the stored one.
    const late = await helper("erase", input, env);
    expect(late.code, late.stderr).toBe(0);
    // A token this link never had.
    const stranger = await helper("erase", input.replace(seed.accessToken, "not-a-token-of-this-link"), env);
    expect(stranger.code, stranger.stderr).toBe(0);
    stderrs.push(late.stderr, stranger.stderr);
    expect(fake.refreshes - before).toBe(1);
    expect((await current()).accessToken).toBe(now);
  });
});
