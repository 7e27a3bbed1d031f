import { spawn, type ChildProcess } from "node:child_process";
import { createHash, randomBytes } from "node:crypto";
import { existsSync, readdirSync, writeFileSync } from "node:fs";
import { join } from "node:path";
import { stringify } from "yaml";
import { memoryOf, type Memory } from "./proc.js";


export interface DaemonProvider {
  id: string;
  tokenUrl: string;
  clientId: string;
  clientSecret: string;
}

export interface DaemonOptions {
  /** The built CLI (dist/src/main.js) to run. */
  cli: string;
  /** The temp dir holding the keys file, the store, the socket and the config. */
  dir: string;
  /** Names this daemon's files (several daemons may share a dir and its keys). */
  name: string;
  provider: DaemonProvider;
  providerConcurrency?: number;
  /** The config's `store` section (default: a SQLite file of this daemon's name). */
  store?: Record<string, unknown>;
  /**
   * The default SQLite store's `cache_entries` (the record cache's bound;
   * the daemon's default, 10,000, when undefined). Ignored with `store`.
   */
  cacheEntries?: number;
  /** Write a V8 CPU profile (--cpu-prof) into this directory on exit. */
  cpuProfDir?: string | undefined;
  /** Also serve gRPC on 127.0.0.1:0 (h2c; a caller token is required there), for h2load. */
  grpcTcp?: boolean;
  /** The audit trail to this file (as an operator runs it) instead of stdout with the logs. */
  auditFile?: string;
}

export interface BenchDaemon {
  readonly pid: number;
  /** unix:///…sock, a grpc-js target. */
  readonly grpcTarget: string;
  /** http://127.0.0.1:PORT of the web listener (Connect). */
  readonly httpBaseUrl: string;
  /** http://127.0.0.1:PORT of the gRPC TCP listener (h2c), with `grpcTcp`. */
  readonly grpcTcpBaseUrl: string | undefined;
  /** From spawn to the "serving" log line (keys, store open and checks, listeners). */
  readonly startupMs: number;
  /**
   * A caller token (scopes token, link, admin) for the TCP web listener, which
   * requires one; the Unix socket does not. A secret: never print it.
   */
  readonly callerToken: string;
  /** Warnings and errors the daemon logged, by message (messages never hold secrets). */
  readonly problems: Map<string, number>;
  memory(): Memory | undefined;
  /** The last log lines, for diagnosing a failed start. */
  tail(): string;
  /** SIGTERM, wait for the drained exit; returns the exit code and, with cpuProfDir, the profile written. */
  stop(): Promise<{ code: number | null; profile?: string }>;
}

/** One random 32-byte key, base64, mode 0600 — what `openssl rand -base64 32` makes. */
export function writeKeysFile(dir: string): string {
  const path = join(dir, "keys");
  if (!existsSync(path)) writeFileSync(path, `${randomBytes(32).toString("base64")}\n`, { mode: 0o600 });
  return path;
}

/**
 * Runs `tokenbroker serve --config FILE` as its own process with a generated
 * config (gRPC on a Unix socket in `dir`, the web listener on 127.0.0.1:0)
 * and waits for its "serving" log line, which names the bound addresses.
 */
/** The store file a daemon of this name uses. */
export function storePathOf(dir: string, name: string): string {
  return join(dir, `${name}.db`);
}

export async function startBenchDaemon(opts: DaemonOptions): Promise<BenchDaemon> {
  if (!existsSync(opts.cli)) throw new Error(`${opts.cli} is missing: run \`npm run build\` first (npm run bench does)`);
  const keys = writeKeysFile(opts.dir);
  const callerToken = randomBytes(24).toString("base64url");
  const config = {
    listen: { grpc: [`unix://${join(opts.dir, `${opts.name}.sock`)}`, ...(opts.grpcTcp === true ? ["tcp://127.0.0.1:0"] : [])], http: "tcp://127.0.0.1:0" },
    store: opts.store ?? { sqlite: { path: storePathOf(opts.dir, opts.name), ...(opts.cacheEntries !== undefined ? { cache_entries: opts.cacheEntries } : {}) } },
    encryption: { keys_file: keys },
    refresh: { provider_concurrency: opts.providerConcurrency ?? 8, validate: false },
    shutdown_grace: "5s",
    log: { level: "info" },
    ...(opts.auditFile !== undefined ? { audit: { file: opts.auditFile } } : {}),
    callers: [{ name: "bench", token_sha256: createHash("sha256").update(callerToken).digest("hex"), scopes: ["token", "link", "admin"] }],
    providers: [
      {
        id: opts.provider.id,
        type: "oauth2",
        client_id: opts.provider.clientId,
        client_secret: opts.provider.clientSecret,
        token_url: opts.provider.tokenUrl,
      },
    ],
  };
  const configPath = join(opts.dir, `${opts.name}.yaml`);
  writeFileSync(configPath, stringify(config), { mode: 0o600 });

  const profArgs = opts.cpuProfDir !== undefined ? ["--cpu-prof", `--cpu-prof-dir=${opts.cpuProfDir}`, `--cpu-prof-name=${opts.name}-${Date.now()}.cpuprofile`] : [];
  const spawnedAt = performance.now();
  const child = spawn(process.execPath, [...profArgs, opts.cli, "serve", "--config", configPath], {
    cwd: opts.dir,
    env: { ...process.env, NODE_ENV: "production" },
    stdio: ["ignore", "pipe", "pipe"],
  });
  const lines: string[] = [];
  const problems = new Map<string, number>();
  let partial = "";
  let onServing: ((v: { grpc: string[]; http?: string }) => void) | undefined;
  child.stdout!.on("data", (d: Buffer) => {
    partial += d.toString();
    const parts = partial.split("\n");
    partial = parts.pop() ?? "";
    for (const line of parts) {
      if (lines.push(line) > 200) lines.shift();
      if (!line.startsWith("{")) continue;
      let rec: { level?: number; msg?: string; grpc?: string[]; http?: string };
      try {
        rec = JSON.parse(line) as typeof rec;
      } catch {
        continue;
      }
      if ((rec.level ?? 0) >= 40 && rec.msg !== undefined) problems.set(rec.msg, (problems.get(rec.msg) ?? 0) + 1);
      if (rec.msg === "serving" && rec.grpc !== undefined) onServing?.({ grpc: rec.grpc, ...(rec.http !== undefined ? { http: rec.http } : {}) });
    }
  });
  child.stderr!.on("data", (d: Buffer) => {
    for (const line of d.toString().split("\n")) if (line !== "" && lines.push(`stderr: ${line}`) > 200) lines.shift();
  });
  const exited = new Promise<number | null>((r) => child.once("exit", (code) => r(code)));
  const tail = (): string => lines.slice(-40).join("\n");

  const serving = await new Promise<{ grpc: string[]; http?: string }>((resolvePromise, reject) => {
    const timer = setTimeout(() => reject(new Error(`daemon ${opts.name} did not start in 30 s:\n${tail()}`)), 30_000);
    onServing = (v) => {
      clearTimeout(timer);
      resolvePromise(v);
    };
    void exited.then((code) => {
      clearTimeout(timer);
      reject(new Error(`daemon ${opts.name} exited with ${code} before serving:\n${tail()}`));
    });
  });
  const startupMs = performance.now() - spawnedAt;
  const unix = serving.grpc.find((u) => u.startsWith("unix://"));
  if (unix === undefined || serving.http === undefined) throw new Error(`daemon ${opts.name} serves no Unix socket or web listener: ${JSON.stringify(serving)}`);
  const tcp = serving.grpc.find((u) => u.startsWith("tcp://"));
  if (opts.grpcTcp === true && tcp === undefined) throw new Error(`daemon ${opts.name} serves no gRPC TCP listener: ${JSON.stringify(serving)}`);

  return {
    pid: child.pid!,
    grpcTarget: unix,
    httpBaseUrl: serving.http.replace(/^tcp:\/\//, "http://"),
    grpcTcpBaseUrl: tcp?.replace(/^tcp:\/\//, "http://"),
    callerToken,
    startupMs,
    problems,
    memory: () => memoryOf(child.pid!),
    tail,
    stop: () => stopChild(child, exited, opts),
  };
}

async function stopChild(child: ChildProcess, exited: Promise<number | null>, opts: DaemonOptions): Promise<{ code: number | null; profile?: string }> {
  if (child.exitCode === null && child.signalCode === null) child.kill("SIGTERM");
  const killer = setTimeout(() => child.kill("SIGKILL"), 20_000);
  const code = await exited;
  clearTimeout(killer);
  if (opts.cpuProfDir === undefined) return { code };
  const profile = readdirSync(opts.cpuProfDir)
    .filter((f) => f.startsWith(`${opts.name}-`) && f.endsWith(".cpuprofile"))
    .sort()
    .at(-1);
  return profile !== undefined ? { code, profile: join(opts.cpuProfDir, profile) } : { code };
}
