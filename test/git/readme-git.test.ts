/**
 * README "Git on build hosts", run as written: each `sh` block of the
 * section, in a HOME of its own with `tokenbroker` and
 * `git-credential-tokenbroker` on PATH as npm installs them. The once-per-host
 * configuration (either form), then the job's commands with the environment
 * the provisioner gives a job (TOKENBROKER_ADDR on TCP, TOKENBROKER_CALLER_TOKEN
 * a configured caller's token, TOKENBROKER_USER). github.com is the loopback
 * git server through `url.<local>.insteadOf`, set before the README's commands
 * run, so the commands themselves stay as the README shows them.
 */
import { createHash } from "node:crypto";
import { mkdirSync, readFileSync } from "node:fs";
import { resolve } from "node:path";
import { afterAll, beforeAll, describe, expect, it } from "vitest";
import { TEST_CALLER_TOKEN, startServe, type ServingDaemon } from "../support/cli.js";
import type { FakeProvider } from "../support/fake-provider.js";
import { useFakeProvider } from "../support/scoped-fakes.js";
import { tempDir } from "../support/temp-dir.js";
import { bareRepo, startGitServer, type GitServer } from "./support/git-server.js";
import { gitEnv, importLink, run } from "./support/helper-env.js";

const README = readFileSync(resolve(import.meta.dirname, "../../README.md"), "utf8");

/** The section's sh blocks, in order. */
function blocks(): string[] {
  const start = README.indexOf("## Git on build hosts\n");
  const end = README.indexOf("\n## ", start + 1);
  const section = README.slice(start, end);
  return [...section.matchAll(/```sh\n([\s\S]*?)```/g)].map((m) => m[1]!);
}

describe('README "Git on build hosts"', () => {
  let dir: string;
  let fake: FakeProvider;
  let server: GitServer;
  let daemon: ServingDaemon;
  let githubCom: { accessToken: string };

  beforeAll(async () => {
    dir = tempDir("tb-gitreadme-");
    fake = await useFakeProvider({ expiresInSec: 3600 });
    const env = gitEnv(`${dir}/seed`);
    mkdirSync(`${dir}/srv/acme`, { recursive: true });
    bareRepo(`${dir}/srv/acme`, "app", env);
    server = await startGitServer(`${dir}/srv`, (t) => fake.isValid(t), env);
    const common = { client_id: fake.clientId, client_secret: fake.clientSecret, token_url: fake.tokenUrl, validate_url: fake.validateUrl };
    daemon = await startServe(
      {
        listen: { grpc: [`unix://${dir}/tb.sock`, "tcp://127.0.0.1:0"] },
        store: { sqlite: { path: `${dir}/tb.db` } },
        encryption: { keys_file: `${dir}/keys` },
        shutdown_grace: "3s",
        callers: [{ name: "jobs", token_sha256: createHash("sha256").update(TEST_CALLER_TOKEN).digest("hex"), scopes: ["token"] }],
        // github.com as git sees it after insteadOf: the loopback server.
        providers: [
          { id: "github", type: "github", ...common, regex: `^${server.url.replace(/[.*+?^${}()|[\]\\/]/g, "\\$&")}/` },
          // The catalog's own pattern for github.com, for the per-host form (asked through `git credential fill`).
          { id: "github-com", type: "github", ...common },
        ],
      },
      dir,
    );
    await importLink(daemon.unixTarget!, "alice", "github", fake.issue({ accessTtlSec: 3600 }));
    await importLink(daemon.unixTarget!, "alice", "github-com", githubCom = fake.issue({ accessTtlSec: 3600 }));
  });

  afterAll(async () => {
    await daemon?.stop();
  });

  it("shows the host configuration (two forms) and the job's commands", () => {
    const [global, perHost, job] = blocks();
    expect(blocks()).toHaveLength(3);
    expect(global!.trim()).toBe('git config --global credential.helper "tokenbroker git-credential"');
    expect(perHost!.trim()).toBe('git config --global credential.https://github.com.helper "tokenbroker git-credential"');
    expect(job).toContain("git clone https://github.com/");
  });

  const jobEnvOf = (hostEnv: NodeJS.ProcessEnv): NodeJS.ProcessEnv => ({ ...hostEnv, TOKENBROKER_ADDR: `tcp://${daemon.tcpTarget!}`, TOKENBROKER_CALLER_TOKEN: TEST_CALLER_TOKEN, TOKENBROKER_USER: "alice" });

  it("the once-per-host command, then the job's commands, as written", async () => {
    const [global, , job] = blocks();
    const home = `${dir}/host-global`;
    const hostEnv = gitEnv(home);
    const configure = await run("sh", ["-ec", global!], { env: hostEnv });
    expect(configure.code, configure.stderr).toBe(0);
    // github.com is the loopback server for git (set apart from the README's commands).
    const insteadOf = await run("git", ["config", "--global", `url.${server.url}/.insteadOf`, "https://github.com/"], { env: hostEnv });
    expect(insteadOf.code, insteadOf.stderr).toBe(0);

    const jobEnv = jobEnvOf(hostEnv);
    mkdirSync(`${home}/work`);
    const from = server.requests.length;
    const ran = await run("sh", ["-ec", job!], { env: jobEnv, cwd: `${home}/work` });
    expect(ran.code, ran.stderr).toBe(0);
    expect(readFileSync(`${home}/work/app/README`, "utf8")).toBe("hello\n");
    expect(server.requests.slice(from).some((r) => r.accepted)).toBe(true);
    for (const t of fake.issuedTokens()) expect(ran.stderr).not.toContain(t);

    // Without the job's caller token the TCP listener refuses, and git's log says why in one line.
    mkdirSync(`${home}/work-2`);
    const denied = await run("sh", ["-ec", job!], { env: { ...jobEnv, TOKENBROKER_CALLER_TOKEN: "" }, cwd: `${home}/work-2` });
    expect(denied.code).not.toBe(0);
    expect(denied.stderr).toMatch(/tokenbroker git-credential get: CALLER_UNKNOWN: .+\n/);
    expect(denied.stderr).toMatch(/told us to quit/);
  });

  it("the per-host command, as written: git asks the helper for github.com only", async () => {
    const [, perHost] = blocks();
    const hostEnv = gitEnv(`${dir}/host-per-host`);
    const configure = await run("sh", ["-ec", perHost!], { env: hostEnv });
    expect(configure.code, configure.stderr).toBe(0);
    // What git asks before talking to https://github.com/acme/app.git (no network: `git credential fill`).
    const fill = await run("git", ["credential", "fill"], { env: jobEnvOf(hostEnv), input: "protocol=https\nhost=github.com\npath=acme/app.git\n\n" });
    expect(fill.code, fill.stderr).toBe(0);
    expect(fill.stdout).toContain("username=x-access-token\n");
    expect(fill.stdout).toContain(`password=${githubCom.accessToken}\n`);
    // Another host is not the helper's: git falls through to a prompt, which is off.
    const other = await run("git", ["credential", "fill"], { env: jobEnvOf(hostEnv), input: "protocol=https\nhost=gitlab.example\npath=acme/app.git\n\n" });
    expect(other.code).not.toBe(0);
    expect(other.stderr).toMatch(/terminal prompts disabled/);

  });

  it.each(["tokenbroker", "!tokenbroker git-credential"])("the other spellings the README names work too: credential.helper %s", async (spelling) => {
    const hostEnv = gitEnv(`${dir}/host-${spelling.replace(/\W/g, "")}`);
    expect((await run("git", ["config", "--global", "credential.helper", spelling], { env: hostEnv })).code).toBe(0);
    const fill = await run("git", ["credential", "fill"], { env: jobEnvOf(hostEnv), input: "protocol=https\nhost=github.com\npath=acme/app.git\n\n" });
    expect(fill.code, fill.stderr).toBe(0);
    expect(fill.stdout).toContain(`password=${githubCom.accessToken}\n`);
  });
});
