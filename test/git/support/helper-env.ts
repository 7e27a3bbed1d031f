/**
 * What the credential-helper tests share: a daemon with providers pointed at
 * the fake OAuth provider, executables named as npm installs them
 * (`tokenbroker`, `git-credential-tokenbroker`) on PATH, and an environment
 * in which the machine's git configuration does not count (HOME, XDG and
 * GIT_CONFIG_NOSYSTEM point away, GIT_TERMINAL_PROMPT=0: a prompt fails).
 */
import { execFile, spawn } from "node:child_process";
import { chmodSync, mkdirSync, writeFileSync } from "node:fs";
import { resolve } from "node:path";
import { timestampFromMs } from "@bufbuild/protobuf/wkt";
import { LinkService } from "../../../gen/tokenbroker/v1/link_service_pb.js";
import { CLI, TEST_CALLERS } from "../../support/cli.js";
import type { FakeProvider } from "../../support/fake-provider.js";
import { grpcClient, unary } from "../../support/grpc.js";

export const HELPER_BIN = resolve(import.meta.dirname, "../../../dist/src/cli/git-credential/bin.js");

/** A bin directory with `tokenbroker` and `git-credential-tokenbroker`, as npm links them. */
export function binDir(dir: string): string {
  const bin = `${dir}/bin`;
  mkdirSync(bin, { recursive: true });
  for (const [name, script] of [
    ["tokenbroker", CLI],
    ["git-credential-tokenbroker", HELPER_BIN],
  ] as const) {
    writeFileSync(`${bin}/${name}`, `#!/bin/sh\nexec "${process.execPath}" "${script}" "$@"\n`);
    chmodSync(`${bin}/${name}`, 0o755);
  }
  return bin;
}

/** An environment for git and the helper that ignores the machine's git configuration. */
export function gitEnv(dir: string, extra: NodeJS.ProcessEnv = {}): NodeJS.ProcessEnv {
  const home = `${dir}/home`;
  mkdirSync(home, { recursive: true });
  const env: NodeJS.ProcessEnv = {
    PATH: `${binDir(dir)}:${process.env.PATH ?? "/usr/bin:/bin"}`,
    HOME: home,
    XDG_CONFIG_HOME: `${home}/.config`,
    GIT_CONFIG_NOSYSTEM: "1",
    GIT_TERMINAL_PROMPT: "0",
    GIT_AUTHOR_NAME: "job",
    GIT_AUTHOR_EMAIL: "job@example.invalid",
    GIT_COMMITTER_NAME: "job",
    GIT_COMMITTER_EMAIL: "job@example.invalid",
    LANG: "C",
    ...extra,
  };
  return env;
}

export interface Run {
  code: number;
  stdout: string;
  stderr: string;
}

/** Runs a command to its end (never throws on a non-zero exit). */
export function run(command: string, args: string[], opts: { env: NodeJS.ProcessEnv; cwd?: string; input?: string | Buffer; timeoutMs?: number }): Promise<Run> {
  return new Promise((resolvePromise, reject) => {
    const child = spawn(command, args, { env: opts.env, cwd: opts.cwd, stdio: ["pipe", "pipe", "pipe"] });
    let stdout = "";
    let stderr = "";
    child.stdout.on("data", (d: Buffer) => (stdout += d.toString()));
    child.stderr.on("data", (d: Buffer) => (stderr += d.toString()));
    child.stdin.on("error", () => {}); // a helper that refuses early closes its stdin
    const timer = setTimeout(() => {
      child.kill("SIGKILL");
      reject(new Error(`${command} ${args.join(" ")} did not finish\nstdout: ${stdout}\nstderr: ${stderr}`));
    }, opts.timeoutMs ?? 60_000);
    child.on("close", (code) => {
      clearTimeout(timer);
      resolvePromise({ code: code ?? -1, stdout, stderr });
    });
    child.stdin.end(opts.input ?? "");
  });
}

/** `tokenbroker git-credential OP` with `input` on stdin. */
export function helper(op: string, input: string | Buffer, env: NodeJS.ProcessEnv): Promise<Run> {
  return run(process.execPath, [CLI, "git-credential", op], { env, input });
}

export { execFile };

/** A daemon config: the Unix socket, TCP and the web listener; the fake provider as a generic git host for `gitUrl`, a GitHub and a Bearer-taking host. */
export function helperDaemonConfig(dir: string, fake: FakeProvider, gitUrl: string): Record<string, unknown> {
  const common = { client_id: fake.clientId, client_secret: fake.clientSecret, token_url: fake.tokenUrl, validate_url: fake.validateUrl };
  const escaped = gitUrl.replace(/[.*+?^${}()|[\]\\/]/g, "\\$&");
  return {
    listen: { grpc: [`unix://${dir}/tb.sock`, "tcp://127.0.0.1:0"], http: "tcp://127.0.0.1:0" },
    store: { sqlite: { path: `${dir}/tb.db` } },
    encryption: { keys_file: `${dir}/keys` },
    refresh: { timeout: "5s", retry_budget: "5s", initial_backoff: "50ms", max_backoff: "200ms", min_valid_for: "60s" },
    shutdown_grace: "3s",
    callers: TEST_CALLERS,
    providers: [
      { id: "git", type: "oauth2", ...common, regex: `^${escaped}/` },
      { id: "gh", type: "github", ...common, regex: "^https://github\\.example/" },
      { id: "ado", type: "azure-devops-entra", ...common, regex: "^https://ado\\.example/" },
    ],
  };
}

/** Stores a link of `userId` at `providerId` with these tokens (ImportLink over the socket). */
export async function importLink(target: string, userId: string, providerId: string, t: { accessToken: string; refreshToken: string; expiresAt: number }): Promise<void> {
  const client = grpcClient(LinkService, target);
  try {
    await unary(client, "importLink", { userId, providerId, accessToken: t.accessToken, refreshToken: t.refreshToken, expiresAt: timestampFromMs(t.expiresAt) });
  } finally {
    client.close();
  }
}
