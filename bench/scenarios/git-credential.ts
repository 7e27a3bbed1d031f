/**
 * The git credential helper's start (issue 21 item 3): `tokenbroker
 * git-credential get` runs before every git operation, so its wall time from
 * spawn to exit is measured against a bare `node -e 0` and against today's
 * one-RPC CLI call (`tokenbroker token`), interleaved round by round in the
 * same run so that the machine's load weighs on all three alike. Target: the
 * helper's median ≤ 2 × bare Node's. test/git/helper-speed.test.ts runs the
 * same measurement (timed project) with a looser bound.
 *
 * The scenario runs its own daemon (a provider with a regex, which
 * bench/daemon.ts does not configure) with one fresh link, so every get is a
 * cache hit: what is measured is the helper, not a refresh.
 */
import { spawn } from "node:child_process";
import { createHash, randomBytes } from "node:crypto";
import { writeFileSync } from "node:fs";
import { join } from "node:path";
import { timestampFromMs } from "@bufbuild/protobuf/wkt";
import * as grpc from "@grpc/grpc-js";
import { stringify } from "yaml";
import { LinkService } from "../../gen/tokenbroker/v1/link_service_pb.js";
import { grpcDefinition } from "../../src/rpc/grpc-transport.js";
import { startBenchProvider } from "../provider.js";
import { median } from "../stats.js";
import type { ScenarioContext } from "./context.js";

/** One command whose start-to-exit time is measured. */
export interface StartCommand {
  name: string;
  argv: string[];
  env?: NodeJS.ProcessEnv;
  stdin?: string;
  /** What its stdout must match (a wrong answer is not a fast one). */
  expect?: RegExp;
}

export interface StartTimes {
  /** Per command: every measured run's wall time in ms. */
  runs: Record<string, number[]>;
  medians: Record<string, number>;
}

/** Spawn to exit, in ms; throws when the command fails or answers wrongly. */
async function timeOne(c: StartCommand): Promise<number> {
  const t0 = performance.now();
  const child = spawn(c.argv[0]!, c.argv.slice(1), { env: c.env ?? process.env, stdio: ["pipe", "pipe", "pipe"] });
  let out = "";
  let err = "";
  child.stdout.on("data", (d: Buffer) => (out += d.toString()));
  child.stderr.on("data", (d: Buffer) => (err += d.toString()));
  child.stdin.on("error", () => {});
  child.stdin.end(c.stdin ?? "");
  const code = await new Promise<number | null>((r) => child.on("close", (x) => r(x)));
  const ms = performance.now() - t0;
  // Never print what it wrote: the helper's stdout holds a token.
  if (code !== 0) throw new Error(`${c.name} exited with ${code}: ${err.slice(0, 300)}`);
  if (c.expect !== undefined && !c.expect.test(out)) throw new Error(`${c.name} answered something unexpected (stderr: ${err.slice(0, 300)})`);
  return ms;
}

/** `rounds` rounds (after `warmup` unmeasured ones), each running every command once, in turn. */
export async function measureStarts(commands: StartCommand[], rounds: number, warmup = 2): Promise<StartTimes> {
  const runs: Record<string, number[]> = Object.fromEntries(commands.map((c) => [c.name, []]));
  for (let i = 0; i < warmup + rounds; i++) {
    for (const c of commands) {
      const ms = await timeOne(c);
      if (i >= warmup) runs[c.name]!.push(ms);
    }
  }
  return { runs, medians: Object.fromEntries(Object.entries(runs).map(([k, v]) => [k, median(v)])) };
}

/** The commands: bare Node, the helper's get, the CLI's token (one RPC), the CLI's own start (--version). */
export function helperStartCommands(cli: string, address: string, user: string, provider: string, host: string): StartCommand[] {
  const env = { ...process.env, TOKENBROKER_ADDR: address, TOKENBROKER_USER: user };
  return [
    { name: "node -e 0", argv: [process.execPath, "-e", "0"] },
    { name: "git-credential get", argv: [process.execPath, cli, "git-credential", "get"], env, stdin: `protocol=https\nhost=${host}\npath=org/repo.git\n\n`, expect: /^username=.*\npassword=.+\npassword_expiry_utc=\d+\n$/ },
    { name: "tokenbroker token", argv: [process.execPath, cli, "token", "--user", user, "--provider", provider], env, expect: /^.+\n$/ },
    { name: "tokenbroker --version", argv: [process.execPath, cli, "--version"], expect: /^\d+\.\d+\.\d+\n$/ },
  ];
}

export interface GitCredentialResult {
  rounds: number;
  medianMs: Record<string, number>;
  helperVsBare: number;
  tokenVsBare: number;
  /** The CLI's own start: `tokenbroker --version`. */
  versionVsBare: number;
}

const HOST = "git.bench.example";

export async function runGitCredential(ctx: ScenarioContext): Promise<GitCredentialResult> {
  const fake = await startBenchProvider(0);
  const keys = join(ctx.dir, "keys");
  writeFileSync(keys, `${randomBytes(32).toString("base64")}\n`, { mode: 0o600 });
  const socket = join(ctx.dir, "git.sock");
  const config = {
    listen: { grpc: [`unix://${socket}`] },
    store: { sqlite: { path: join(ctx.dir, "git.db") } },
    encryption: { keys_file: keys },
    shutdown_grace: "5s",
    log: { level: "info" }, // the "serving" line is at info
    callers: [{ name: "bench", token_sha256: createHash("sha256").update(randomBytes(24)).digest("hex"), scopes: ["token"] }],
    providers: [{ id: "git", type: "github", client_id: fake.clientId, client_secret: fake.clientSecret, token_url: fake.tokenUrl, regex: `^https://${HOST.replaceAll(".", "\\.")}/` }],
  };
  writeFileSync(join(ctx.dir, "git.yaml"), stringify(config), { mode: 0o600 });
  const daemon = spawn(process.execPath, [ctx.opts.cli, "serve", "--config", join(ctx.dir, "git.yaml")], { cwd: ctx.dir, stdio: ["ignore", "pipe", "inherit"] });
  try {
    await new Promise<void>((resolve, reject) => {
      let out = "";
      const timer = setTimeout(() => reject(new Error("the daemon did not start in 30 s")), 30_000);
      daemon.stdout!.on("data", (d: Buffer) => {
        out += d.toString();
        if (out.includes('"msg":"serving"')) {
          clearTimeout(timer);
          resolve();
        }
      });
      daemon.once("exit", (code) => reject(new Error(`the daemon exited with ${code}`)));
    });
    const seed = fake.issue({ accessTtlSec: 24 * 3600 });
    const Ctor = grpc.makeGenericClientConstructor(grpcDefinition(LinkService), "LinkService");
    const client = new Ctor(`unix://${socket}`, grpc.credentials.createInsecure()) as unknown as Record<string, (req: unknown, cb: (err: Error | null) => void) => void> & grpc.Client;
    await new Promise<void>((resolve, reject) =>
      client.importLink!({ userId: "bench", providerId: "git", accessToken: seed.accessToken, refreshToken: seed.refreshToken, expiresAt: timestampFromMs(seed.expiresAt) }, (err) => (err ? reject(err) : resolve())),
    );
    client.close();
    const rounds = ctx.opts.quick ? 10 : 30;
    const times = await measureStarts(helperStartCommands(ctx.opts.cli, `unix://${socket}`, "bench", "git", HOST), rounds);
    const m = times.medians;
    const bare = m["node -e 0"]!;
    const result: GitCredentialResult = {
      rounds,
      medianMs: m,
      helperVsBare: m["git-credential get"]! / bare,
      tokenVsBare: m["tokenbroker token"]! / bare,
      versionVsBare: m["tokenbroker --version"]! / bare,
    };
    ctx.log(`  medians over ${rounds} interleaved rounds: node -e 0 ${bare.toFixed(1)} ms, git-credential get ${m["git-credential get"]!.toFixed(1)} ms (× ${result.helperVsBare.toFixed(2)}), tokenbroker token ${m["tokenbroker token"]!.toFixed(1)} ms (× ${result.tokenVsBare.toFixed(2)}), tokenbroker --version ${m["tokenbroker --version"]!.toFixed(1)} ms (× ${result.versionVsBare.toFixed(2)})`);
    return result;
  } finally {
    if (daemon.exitCode === null && daemon.signalCode === null) {
      const exited = new Promise((r) => daemon.once("exit", r));
      daemon.kill("SIGTERM");
      await exited;
    }
    await fake.close();
  }
}

/** The issue's target as a check row (targets.ts). */
export function gitCredentialChecks(r: GitCredentialResult): Array<{ scenario: string; kind: "target"; what: string; measured: string; ok: boolean }> {
  return [{ scenario: "git", kind: "target", what: "git-credential get median ≤ 2 × bare node -e 0 (same run)", measured: `× ${r.helperVsBare.toFixed(2)} (token CLI × ${r.tokenVsBare.toFixed(2)})`, ok: r.helperVsBare <= 2 }];
}
