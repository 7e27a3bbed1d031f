import { randomBytes } from "node:crypto";
import { spawnSync } from "node:child_process";
import { existsSync, mkdirSync, readFileSync, writeFileSync } from "node:fs";
import { join } from "node:path";
import { beforeAll, describe, expect, it } from "vitest";
import { parse, stringify } from "yaml";
import { parseDuration } from "../../src/config/duration.js";
import { assertBuilt, CLI } from "../support/cli.js";
import { tempDir } from "../support/temp-dir.js";
import { DEPLOY, requireTool } from "./support.js";

const service = readFileSync(join(DEPLOY, "tokenbroker.service"), "utf8");
const socket = readFileSync(join(DEPLOY, "tokenbroker.socket"), "utf8");
const jobsSocket = readFileSync(join(DEPLOY, "tokenbroker-jobs.socket"), "utf8");

/** Values of a directive, in order (comments and other sections' keys included only if named). */
function directive(unit: string, key: string): string[] {
  return unit
    .split("\n")
    .map((l) => l.trim())
    .filter((l) => l.startsWith(`${key}=`))
    .map((l) => l.slice(key.length + 1));
}

function run(cmd: string, args: string[], cwd: string): { code: number | null; out: string } {
  const r = spawnSync(cmd, args, { cwd, encoding: "utf8", env: { ...process.env, SYSTEMD_LOG_COLOR: "0", SYSTEMD_COLORS: "0", PAGER: "cat", SYSTEMD_PAGER: "" } });
  return { code: r.status, out: `${r.stdout}${r.stderr}` };
}

describe("deploy/systemd units", () => {
  let analyze: string;
  beforeAll(() => {
    assertBuilt();
    analyze = requireTool("systemd-analyze", "systemd");
  });

  it("systemd-analyze verify is clean", () => {
    // verify checks that ExecStart's program exists. The unit names the
    // installed layout (/usr/bin/node, /usr/lib/tokenbroker/dist/src/main.js);
    // a copy pointing at this machine's node and the built CLI makes the
    // check meaningful wherever node lives. Every other line is unchanged.
    const dir = tempDir("tb-units-");
    const execStart = directive(service, "ExecStart");
    expect(execStart).toEqual(["/usr/bin/node /usr/lib/tokenbroker/dist/src/main.js serve --config /etc/tokenbroker/config.yaml"]);
    writeFileSync(
      join(dir, "tokenbroker.service"),
      service.replace(/^ExecStart=.*$/m, `ExecStart=${process.execPath} ${CLI} serve --config /etc/tokenbroker/config.yaml`),
    );
    writeFileSync(join(dir, "tokenbroker.socket"), socket);
    writeFileSync(join(dir, "tokenbroker-jobs.socket"), jobsSocket);
    const copy = run(analyze, ["verify", "./tokenbroker.service", "./tokenbroker.socket", "./tokenbroker-jobs.socket"], dir);
    expect(copy.out).toBe("");
    expect(copy.code).toBe(0);

    // The files as shipped, where /usr/bin/node exists (Debian's nodejs).
    if (existsSync("/usr/bin/node")) {
      const shipped = run(analyze, ["verify", "./tokenbroker.service", "./tokenbroker.socket", "./tokenbroker-jobs.socket"], DEPLOY);
      expect(shipped.out).toBe("");
      expect(shipped.code).toBe(0);
    }
  });

  it('systemd-analyze security --offline=yes rates the service "OK" or better', () => {
    const r = run(analyze, ["security", "--offline=yes", "--no-pager", "./tokenbroker.service"], DEPLOY);
    const m = /Overall exposure level for tokenbroker\.service:\s*([\d.]+)\s+(\w+)/.exec(r.out);
    if (m === null) throw new Error(`no overall exposure level in systemd-analyze security output:\n${r.out}`);
    const [, score, level] = m;
    // systemd's scale: PERFECT 0, SAFE < 1, OK < 5, then MEDIUM, EXPOSED, UNSAFE, DANGEROUS.
    expect(["PERFECT", "SAFE", "OK"], `exposure ${score} ${level}`).toContain(level);
    expect(Number(score)).toBeLessThan(5);
  });

  it("keeps the settings the design requires", () => {
    const one = (k: string): string | undefined => directive(service, k).at(-1);
    expect(one("Type")).toBe("notify");
    expect(one("NotifyAccess") ?? "main").toBe("main");
    expect(one("WatchdogSec")).toBeDefined();
    expect(one("DynamicUser")).toBe("yes");
    expect(one("StateDirectory")).toBe("tokenbroker");
    expect(one("StateDirectoryMode")).toBe("0700");
    // Node's compile cache (Node >= 22.1) in a directory only the service can write: its contents are code the daemon runs.
    expect(one("CacheDirectory")).toBe("tokenbroker");
    expect(one("CacheDirectoryMode")).toBe("0700");
    expect(directive(service, "Environment")).toContain("NODE_COMPILE_CACHE=%C/tokenbroker");
    expect(one("UMask")).toBe("0077");
    // V8's JIT needs writable+executable memory.
    expect(one("MemoryDenyWriteExecute")).not.toBe("yes");
    // systemctl reload = SIGHUP to the daemon: audit file reopened, TLS files reloaded (test/audit, test/integration/tls).
    expect(one("ExecReload")).toBe("/bin/kill -HUP $MAINPID");
    expect(directive(service, "LoadCredential").map((v) => v.split(":")[0])).toEqual(["tokenbroker-keys", "github-client-secret"]);
    expect(directive(socket, "ListenStream")).toEqual(["/run/tokenbroker/tokenbroker.sock"]);
    expect(directive(socket, "SocketMode")).toEqual(["0660"]);
    expect(directive(socket, "SocketGroup")).toEqual(["tokenbroker-clients"]);
    expect(directive(socket, "FileDescriptorName")).toEqual(["grpc"]);
    // The jobs socket: passed to the same service under the name "jobs"; any local user may connect, the caller token is the credential.
    expect(directive(jobsSocket, "ListenStream")).toEqual(["/run/tokenbroker/jobs.sock"]);
    expect(directive(jobsSocket, "FileDescriptorName")).toEqual(["jobs"]);
    expect(directive(jobsSocket, "Service")).toEqual(["tokenbroker.service"]);
    expect(directive(jobsSocket, "SocketMode")).toEqual(["0666"]);
    expect(directive(service, "Requires").join(" ").split(/\s+/)).toEqual(expect.arrayContaining(["tokenbroker.socket", "tokenbroker-jobs.socket"]));
    expect(directive(service, "Sockets").join(" ").split(/\s+/)).toEqual(["tokenbroker.socket", "tokenbroker-jobs.socket"]);
    // SO_PEERCRED must see callers' real uid/gid: a private user namespace maps them all to 65534 (nobody).
    expect(one("PrivateUsers") ?? "no").toBe("no");
  });

  it("config.example.yaml serves each socket unit's path, the jobs one without tokenless calls", () => {
    const config = parse(readFileSync(join(DEPLOY, "config.example.yaml"), "utf8")) as { listen: { grpc: Array<string | { address: string; allow_tokenless?: boolean }> } };
    const entries = config.listen.grpc.map((e) => (typeof e === "string" ? { address: e } : e));
    const at = (path: string) => entries.find((e) => e.address === `unix://${path}`);
    expect(at(directive(socket, "ListenStream")[0]!)).toEqual({ address: "unix:///run/tokenbroker/tokenbroker.sock" });
    expect(at(directive(jobsSocket, "ListenStream")[0]!)).toEqual({ address: "unix:///run/tokenbroker/jobs.sock", allow_tokenless: false });
  });

  it("config.example.yaml is valid, uses the unit's credentials, and drains within TimeoutStopSec", () => {
    const dir = tempDir("tb-units-");
    const text = readFileSync(join(DEPLOY, "config.example.yaml"), "utf8");
    const config = parse(text) as { store: { sqlite: { path: string } }; encryption: { keys_credential?: string }; shutdown_grace: string; providers: Array<{ client_secret_credential?: string }> };
    const credentialNames = directive(service, "LoadCredential").map((v) => v.split(":")[0]);
    expect(credentialNames).toContain(config.encryption.keys_credential);
    for (const p of config.providers) if (p.client_secret_credential !== undefined) expect(credentialNames).toContain(p.client_secret_credential);
    expect(config.store.sqlite.path.startsWith("/var/lib/tokenbroker/")).toBe(true); // StateDirectory=tokenbroker
    // Under systemd the lines carry their priority for the journal (test/systemd/journald-priority, test/systemd-live).
    expect((config as { log?: { format?: string } }).log?.format).toBe("journald");

    const grace = parseDuration(config.shutdown_grace)!;
    const stop = parseDuration(directive(service, "TimeoutStopSec").at(-1)!)!;
    expect(stop).toBeGreaterThan(grace);

    // check-config, with the state directory and credentials moved into dir.
    const credentials = join(dir, "credentials");
    mkdirSync(credentials);
    // check-config reads and parses the keys as serve does: the keys credential holds a real key.
    for (const name of credentialNames) writeFileSync(join(credentials, name!), name === config.encryption.keys_credential ? `${randomBytes(32).toString("base64")}\n` : "x\n", { mode: 0o600 });
    mkdirSync(join(dir, "state"));
    const local = join(dir, "config.yaml");
    writeFileSync(local, stringify({ ...config, store: { sqlite: { path: join(dir, "state", "tokenbroker.db") } } }));
    const r = spawnSync(process.execPath, [CLI, "check-config", "--config", local], { encoding: "utf8", env: { ...process.env, CREDENTIALS_DIRECTORY: credentials } });
    expect(r.stderr).toBe("");
    expect(r.status).toBe(0);
  });
});
