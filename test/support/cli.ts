import { spawn, type ChildProcess } from "node:child_process";
import { createHash, randomBytes } from "node:crypto";
import { existsSync, writeFileSync } from "node:fs";
import { join, resolve } from "node:path";
import { stringify } from "yaml";

export const CLI = resolve(import.meta.dirname, "../../dist/src/main.js");

export function assertBuilt(): void {
  if (!existsSync(CLI)) throw new Error(`${CLI} is missing: run \`npm run build\` first (npm test does)`);
}

/** A caller with every scope, for tests that call over TCP. */
export const TEST_CALLER_TOKEN = "test-caller-token-0123456789";
export const TEST_CALLERS = [{ name: "test", token_sha256: createHash("sha256").update(TEST_CALLER_TOKEN).digest("hex"), scopes: ["token", "link", "admin"] }];

/**
 * A daemon config with everything in `dir` (a unix socket, the store, the
 * keys), a 3 s shutdown grace, the test callers, and one provider nobody
 * listens for; `over` replaces top-level keys.
 */
export function daemonConfig(dir: string, over: Record<string, unknown> = {}): Record<string, unknown> {
  return {
    listen: { grpc: [`unix://${dir}/tb.sock`] },
    store: { sqlite: { path: `${dir}/tb.db` } },
    encryption: { keys_file: `${dir}/keys` },
    shutdown_grace: "3s",
    callers: TEST_CALLERS,
    providers: [{ id: "p", type: "oauth2", client_id: "c", client_secret: "s", token_url: "http://127.0.0.1:9/token" }],
    ...over,
  };
}

/** Writes a keys file with one fresh key (mode 0600) and returns its path. */
export function writeKeys(dir: string, lines: string[] = [randomBytes(32).toString("base64")]): string {
  const path = join(dir, "keys");
  writeFileSync(path, `${lines.join("\n")}\n`, { mode: 0o600 });
  return path;
}

export interface CliResult {
  code: number | null;
  signal: NodeJS.Signals | null;
  stdout: string;
  stderr: string;
}

/** Runs the built CLI to completion. */
export function runCli(args: string[], opts: { env?: NodeJS.ProcessEnv; cwd?: string; timeoutMs?: number } = {}): Promise<CliResult> {
  assertBuilt();
  return new Promise((resolvePromise, reject) => {
    const child = spawn(process.execPath, [CLI, ...args], {
      cwd: opts.cwd ?? process.cwd(),
      env: { ...process.env, ...opts.env },
      stdio: ["ignore", "pipe", "pipe"],
    });
    let stdout = "";
    let stderr = "";
    child.stdout.on("data", (d: Buffer) => (stdout += d.toString()));
    child.stderr.on("data", (d: Buffer) => (stderr += d.toString()));
    const timer = setTimeout(() => {
      child.kill("SIGKILL");
      reject(new Error(`tokenbroker ${args.join(" ")} did not finish in time\nstdout: ${stdout}\nstderr: ${stderr}`));
    }, opts.timeoutMs ?? 30_000);
    child.on("exit", (code, signal) => {
      clearTimeout(timer);
      resolvePromise({ code, signal, stdout, stderr });
    });
  });
}

export interface ServingDaemon {
  child: ChildProcess;
  /** Every line the daemon wrote (stdout and stderr). */
  output: () => string;
  grpc: string[];
  http: string | undefined;
  /** tcp://host:port of the first TCP gRPC listener, as a grpc-js target. */
  tcpTarget: string | undefined;
  unixTarget: string | undefined;
  httpBaseUrl: string | undefined;
  stop(signal?: NodeJS.Signals): Promise<{ code: number | null; ms: number }>;
}

/**
 * Daemons started by tests refresh ahead of expiry (docs/design.md §3.4) only
 * when their config says `refresh.keep_fresh_for`: the suites count the
 * refreshes their callers cause, on tokens that live a second or two.
 */
function withoutRefreshAhead(config: Record<string, unknown>): Record<string, unknown> {
  const refresh = (config.refresh ?? {}) as Record<string, unknown>;
  return "keep_fresh_for" in refresh ? config : { ...config, refresh: { ...refresh, keep_fresh_for: "0s" } };
}

/** Writes a config file, runs `tokenbroker serve` on it and waits until it serves. */
export async function startServe(
  config: Record<string, unknown>,
  dir: string,
  opts: { env?: NodeJS.ProcessEnv; args?: string[]; nodeArgs?: string[]; configName?: string; wrap?: string[] } = {},
): Promise<ServingDaemon> {
  assertBuilt();
  if (!existsSync(join(dir, "keys"))) writeKeys(dir);
  const configPath = join(dir, opts.configName ?? "config.yaml");
  writeFileSync(configPath, stringify(withoutRefreshAhead(config)));
  // `wrap`: a command that execs the rest (e.g. unshare … sh -c 'hostname …; exec "$@"'), so the child's pid is node's.
  const argv = [process.execPath, ...(opts.nodeArgs ?? []), CLI, "serve", "--config", configPath, ...(opts.args ?? [])];
  const [command, ...rest] = [...(opts.wrap ?? []), ...argv] as [string, ...string[]];
  const child = spawn(command, rest, {
    cwd: dir,
    env: { ...process.env, ...opts.env },
    stdio: ["ignore", "pipe", "pipe"],
  });
  let output = "";
  const exited = new Promise<number | null>((r) => child.on("exit", (code) => r(code)));
  const serving = await new Promise<{ grpc: string[]; http?: string }>((resolvePromise, reject) => {
    const timer = setTimeout(() => reject(new Error(`daemon did not start:\n${output}`)), 30_000);
    const onData = (d: Buffer): void => {
      output += d.toString();
      for (const line of output.split("\n")) {
        if (!line.includes('"msg":"serving"')) continue;
        clearTimeout(timer);
        const parsed = JSON.parse(line) as { grpc: string[]; http?: string };
        resolvePromise(parsed);
        return;
      }
    };
    child.stdout.on("data", onData);
    child.stderr.on("data", (d: Buffer) => (output += d.toString()));
    void exited.then((code) => {
      clearTimeout(timer);
      reject(new Error(`daemon exited with ${code} before serving:\n${output}`));
    });
  });
  const tcp = serving.grpc.find((u) => u.startsWith("tcp://"));
  const unix = serving.grpc.find((u) => u.startsWith("unix://"));
  return {
    child,
    output: () => output,
    grpc: serving.grpc,
    http: serving.http,
    tcpTarget: tcp?.slice("tcp://".length),
    unixTarget: unix,
    httpBaseUrl: serving.http?.replace(/^tcp:\/\//, "http://"),
    async stop(signal = "SIGTERM") {
      const started = performance.now();
      if (child.exitCode === null) child.kill(signal);
      const code = await exited;
      return { code, ms: performance.now() - started };
    },
  };
}
