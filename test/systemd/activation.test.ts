import * as grpc from "@grpc/grpc-js";
import { randomBytes } from "node:crypto";
import { existsSync, lstatSync, mkdirSync, readFileSync, writeFileSync } from "node:fs";
import { connect, createServer } from "node:net";
import { join } from "node:path";
import { afterEach, beforeAll, describe, expect, it } from "vitest";
import { parse, stringify } from "yaml";
import { AdminService } from "../../gen/tokenbroker/v1/admin_service_pb.js";
import { takeListenFds } from "../../src/listeners/activation.js";
import { assertBuilt, CLI } from "../support/cli.js";
import { tempDir } from "../support/temp-dir.js";
import { detailOf, grpcClient, grpcFailure, unary } from "../support/grpc.js";
import { DEPLOY, logAt, requireTool, spawnLogged, startNotifyReceiver, waitFor, type LoggedProcess } from "./support.js";

const cleanup: Array<() => Promise<void> | void> = [];

function freePort(): Promise<number> {
  return new Promise((resolve) => {
    const s = createServer().listen(0, "127.0.0.1", () => {
      const { port } = s.address() as { port: number };
      s.close(() => resolve(port));
    });
  });
}
afterEach(async () => {
  for (const f of cleanup.splice(0).reverse()) await f();
});

describe("takeListenFds (sd_listen_fds)", () => {
  it("returns the descriptors from 3 on, with their names, and unsets LISTEN_*", () => {
    const env: NodeJS.ProcessEnv = { LISTEN_PID: "4242", LISTEN_FDS: "2", LISTEN_FDNAMES: "grpc:other", KEEP: "1" };
    expect(takeListenFds(env, 4242)).toEqual([
      { fd: 3, name: "grpc" },
      { fd: 4, name: "other" },
    ]);
    expect(env).toEqual({ KEEP: "1" });
  });

  it("ignores descriptors meant for another pid, but still unsets LISTEN_*", () => {
    const env: NodeJS.ProcessEnv = { LISTEN_PID: "1", LISTEN_FDS: "1" };
    expect(takeListenFds(env, 4242)).toEqual([]);
    expect(env).toEqual({});
  });

  it("has nothing without LISTEN_PID / LISTEN_FDS, or with LISTEN_FDS=0; names are optional", () => {
    expect(takeListenFds({}, 1)).toEqual([]);
    expect(takeListenFds({ LISTEN_FDS: "1" }, 1)).toEqual([]);
    expect(takeListenFds({ LISTEN_PID: "1", LISTEN_FDS: "0" }, 1)).toEqual([]);
    expect(takeListenFds({ LISTEN_PID: "7", LISTEN_FDS: "1" }, 7)).toEqual([{ fd: 3, name: undefined }]);
  });

  it("rejects a malformed LISTEN_FDS or a LISTEN_FDNAMES of the wrong length", () => {
    expect(() => takeListenFds({ LISTEN_PID: "7", LISTEN_FDS: "x" }, 7)).toThrow(/LISTEN_FDS="x" is not a number/);
    expect(() => takeListenFds({ LISTEN_PID: "7", LISTEN_FDS: "2", LISTEN_FDNAMES: "grpc" }, 7)).toThrow(/1 names for 2 descriptors/);
  });
});

// The built CLI under systemd-socket-activate, which binds the socket, waits
// for the first connection, then execs the daemon with LISTEN_FDS=1,
// LISTEN_PID=<its own pid> and LISTEN_FDNAMES=grpc — what systemd does with
// tokenbroker.socket. It passes only TERM, PATH, USER, HOME and -E variables.
describe("socket activation", () => {
  let activate: string;
  beforeAll(() => {
    assertBuilt();
    activate = requireTool("systemd-socket-activate", "systemd");
  });

  function track(p: LoggedProcess): LoggedProcess {
    cleanup.push(async () => {
      if (p.child.exitCode === null && p.child.signalCode === null) await p.stop("SIGKILL");
    });
    return p;
  }

  /** deploy/systemd/config.example.yaml, with its paths moved into `dir` and its web listener on a free port. */
  function exampleConfig(dir: string): { configPath: string; credentials: string } {
    const credentials = join(dir, "credentials");
    mkdirSync(credentials, { mode: 0o700 });
    writeFileSync(join(credentials, "tokenbroker-keys"), `${randomBytes(32).toString("base64")}\n`, { mode: 0o400 });
    writeFileSync(join(credentials, "github-client-secret"), "example-secret\n", { mode: 0o400 });
    const config = parse(readFileSync(join(DEPLOY, "config.example.yaml"), "utf8")) as Record<string, any>;
    expect(config.listen.grpc).toEqual(["unix:///run/tokenbroker/tokenbroker.sock"]);
    config.listen.grpc = [`unix://${dir}/configured.sock`, "tcp://127.0.0.1:0"];
    config.listen.http = "tcp://127.0.0.1:0";
    config.public_url = "http://127.0.0.1:7481";
    config.store.sqlite.path = join(dir, "state", "tokenbroker.db");
    mkdirSync(join(dir, "state"), { mode: 0o700 });
    const configPath = join(dir, "config.yaml");
    writeFileSync(configPath, stringify(config));
    return { configPath, credentials };
  }

  it("serves gRPC on the socket systemd passes, as a Unix listener, and leaves the socket to systemd on exit", async () => {
    const dir = tempDir("tb-activate-");
    const { configPath, credentials } = exampleConfig(dir);
    const sock = join(dir, "tokenbroker.sock");
    const logPath = join(dir, "daemon.log");
    writeFileSync(logPath, "");
    const notifySocket = join(dir, "notify.sock");
    const receiver = await startNotifyReceiver(notifySocket, logPath);
    cleanup.push(() => receiver.close());

    const daemon = track(
      spawnLogged(
        activate,
        ["-l", sock, "--fdname=grpc", "-E", `CREDENTIALS_DIRECTORY=${credentials}`, "-E", `NOTIFY_SOCKET=${notifySocket}`, process.execPath, CLI, "serve", "--config", configPath],
        { cwd: dir, logPath, env: { PATH: process.env.PATH ?? "/usr/bin:/bin" } },
      ),
    );
    await waitFor("systemd-socket-activate to bind the socket", () => existsSync(sock), 10_000, () => daemon.log());
    expect(daemon.log()).not.toContain('"msg"'); // the daemon does not run yet

    // The first call connects before the daemon exists; the connection waits
    // in the socket's backlog until the daemon accepts it. No caller token:
    // on a Unix socket none is needed (AdminService has scope admin).
    const unixClient = grpcClient(AdminService, `unix://${sock}`);
    cleanup.push(() => unixClient.close());
    const providers = await unary<{ providers: Array<{ id: string }> }>(unixClient, "listProviders", {}, { deadlineMs: 30_000 });
    expect(providers.providers.map((p) => p.id)).toEqual(["github"]);

    const lines = daemon.lines();
    const activated = lines.find((l) => l.msg === "using sockets passed by systemd");
    expect(activated).toMatchObject({ inherited: [{ fd: 3, name: "grpc", url: `unix://${sock}` }], replaced: [`unix://${dir}/configured.sock`] });
    const serving = lines.find((l) => l.msg === "serving") as { grpc: string[] } | undefined;
    expect(serving?.grpc).toContain(`unix://${sock}`);
    // The configured Unix socket was not bound: systemd's replaces it.
    expect(existsSync(join(dir, "configured.sock"))).toBe(false);
    // A call on the passed socket names its process as the kernel saw it (SO_PEERCRED, issue 21).
    const audited = lines.find((l) => l.audit === true && l.method === "/tokenbroker.v1.AdminService/ListProviders") as { caller?: Record<string, unknown> } | undefined;
    expect(audited?.caller).toMatchObject({ transport: "grpc+unix", auth: "socket", uid: process.getuid!(), gid: process.getgid!(), pid: process.pid });

    // The same call on the TCP listener needs a caller token.
    const tcp = serving!.grpc.find((u) => u.startsWith("tcp://"))!.slice("tcp://".length);
    const tcpClient = grpcClient(AdminService, tcp);
    cleanup.push(() => tcpClient.close());
    const denied = await grpcFailure(unary(tcpClient, "listProviders", {}));
    expect(denied.code).toBe(grpc.status.UNAUTHENTICATED);
    expect(detailOf(denied)?.reason).toBe("CALLER_UNKNOWN");

    // READY=1 came from the exec'd daemon (same pid as systemd-socket-activate) once serving.
    const ready = await waitFor("READY=1", () => receiver.with("READY=1")[0], 10_000);
    expect(ready.pid).toBe(daemon.pid);
    expect(logAt(daemon.log(), ready)).toContain('"msg":"serving"');

    // SIGTERM with a client still connected (an idle HTTP/2 session on the
    // inherited socket): the daemon closes it, drains and exits 0 well
    // within shutdown_grace (10s).
    const { code, ms } = await daemon.stop("SIGTERM");
    expect(code).toBe(0);
    expect(ms).toBeLessThan(5_000);
    expect(receiver.with("STOPPING=1")).toHaveLength(1);
    expect(daemon.log()).toContain('"msg":"stopped"');
    // systemd owns the socket file: the daemon did not remove it.
    expect(lstatSync(sock).isSocket()).toBe(true);
  });

  it("treats a passed TCP socket as TCP (caller token required) and still binds the configured Unix socket", async () => {
    const dir = tempDir("tb-activate-");
    const { configPath, credentials } = exampleConfig(dir);
    const port = await freePort();
    const logPath = join(dir, "daemon.log");
    const daemon = track(
      spawnLogged(activate, ["-l", `127.0.0.1:${port}`, "--fdname=grpc", "-E", `CREDENTIALS_DIRECTORY=${credentials}`, process.execPath, CLI, "serve", "--config", configPath], {
        cwd: dir,
        logPath,
        env: { PATH: process.env.PATH ?? "/usr/bin:/bin" },
      }),
    );
    await waitFor("systemd-socket-activate to listen", () => daemon.log().includes("Listening on"), 10_000, () => daemon.log());
    const tcpClient = grpcClient(AdminService, `127.0.0.1:${port}`);
    cleanup.push(() => tcpClient.close());
    const denied = await grpcFailure(unary(tcpClient, "listProviders", {}, { deadlineMs: 30_000 }));
    expect(denied.code).toBe(grpc.status.UNAUTHENTICATED);
    const activated = daemon.lines().find((l) => l.msg === "using sockets passed by systemd");
    // The passed socket replaced the configured TCP listener, not the Unix one.
    expect(activated).toMatchObject({ inherited: [{ fd: 3, name: "grpc", url: `tcp://127.0.0.1:${port}` }], replaced: ["tcp://127.0.0.1:0"] });
    const unixClient = grpcClient(AdminService, `unix://${dir}/configured.sock`);
    cleanup.push(() => unixClient.close());
    expect((await unary<{ providers: unknown[] }>(unixClient, "listProviders", {})).providers).toHaveLength(1);
    expect((await daemon.stop()).code).toBe(0);
  });

  it("refuses a passed socket named for something other than gRPC", async () => {
    const dir = tempDir("tb-activate-");
    const { configPath, credentials } = exampleConfig(dir);
    const sock = join(dir, "web.sock");
    const logPath = join(dir, "daemon.log");
    const daemon = track(
      spawnLogged(activate, ["-l", sock, "--fdname=http", "-E", `CREDENTIALS_DIRECTORY=${credentials}`, process.execPath, CLI, "serve", "--config", configPath], {
        cwd: dir,
        logPath,
        env: { PATH: process.env.PATH ?? "/usr/bin:/bin" },
      }),
    );
    await waitFor("systemd-socket-activate to bind the socket", () => existsSync(sock), 10_000, () => daemon.log());
    const poke = connect(sock);
    poke.on("error", () => {});
    cleanup.push(() => void poke.destroy());
    expect(await daemon.exited).toBe(1);
    expect(daemon.log()).toContain('tokenbroker: socket activation: descriptor 3 is named "http"');
  });
});
