import * as grpc from "@grpc/grpc-js";
import { randomBytes } from "node:crypto";
import { existsSync, lstatSync, mkdirSync, readFileSync, writeFileSync } from "node:fs";
import { connect, createServer } from "node:net";
import { join } from "node:path";
import { afterEach, beforeAll, describe, expect, it } from "vitest";
import { parse, stringify } from "yaml";
import { AdminService } from "../../gen/tokenbroker/v1/admin_service_pb.js";
import { takeListenFds, type ActivatedSocket } from "../../src/listeners/activation.js";
import { placeInherited, sameAddress } from "../../src/listeners/listeners.js";
import { parseListenAddress, type ListenAddress } from "../../src/listen/listen-address.js";
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

describe("placeInherited: which configured listener a passed socket stands in for", () => {
  const addr = (text: string): ListenAddress => parseListenAddress(text) as ListenAddress;
  const passed = (fd: number, text: string): ActivatedSocket => {
    const address = addr(text);
    return { fd, name: "grpc", kind: address.kind, address, onConnection: () => {}, close: () => {} };
  };
  const main = { ...addr("unix:///run/tokenbroker/tokenbroker.sock"), allowTokenless: true };
  const jobs = { ...addr("unix:///run/tokenbroker/jobs.sock"), allowTokenless: false };
  const tcp = { ...addr("tcp://127.0.0.1:7480"), allowTokenless: false };
  const view = (r: ReturnType<typeof placeInherited>) => ({
    bound: r.addresses.map((a) => a.url),
    sockets: r.sockets.map((s) => ({ url: s.address.url, allowTokenless: s.allowTokenless, stands: s.stands })),
    replaced: r.replaced,
  });

  it("a socket at a configured address stands in for that listener alone and takes its allow_tokenless; the rest are bound", () => {
    expect(view(placeInherited([main, jobs, tcp], [passed(3, "unix:///run/tokenbroker/jobs.sock")]))).toEqual({
      bound: [main.url, tcp.url],
      sockets: [{ url: jobs.url, allowTokenless: false, stands: jobs.url }],
      replaced: [jobs.url],
    });
    expect(view(placeInherited([main, jobs, tcp], [passed(3, "unix:///run/tokenbroker/tokenbroker.sock"), passed(4, "unix:///run/tokenbroker/jobs.sock"), passed(5, "tcp://127.0.0.1:7480")]))).toEqual({
      bound: [],
      sockets: [
        { url: main.url, allowTokenless: true, stands: main.url },
        { url: jobs.url, allowTokenless: false, stands: jobs.url },
        { url: tcp.url, allowTokenless: false, stands: tcp.url },
      ],
      replaced: [main.url, jobs.url, tcp.url],
    });
  });

  it("a socket at no configured address replaces the configured listeners of its kind no passed socket matches, with default settings (installs from before)", () => {
    expect(view(placeInherited([main, jobs, tcp], [passed(3, "unix:///elsewhere.sock")]))).toEqual({
      bound: [tcp.url],
      sockets: [{ url: "unix:///elsewhere.sock", allowTokenless: undefined, stands: undefined }],
      replaced: [main.url, jobs.url],
    });
    // One matched, one not: the unmatched one replaces only the Unix listener left over.
    expect(view(placeInherited([main, jobs, tcp], [passed(3, "unix:///run/tokenbroker/jobs.sock"), passed(4, "unix:///elsewhere.sock")]))).toEqual({
      bound: [tcp.url],
      sockets: [
        { url: jobs.url, allowTokenless: false, stands: jobs.url },
        { url: "unix:///elsewhere.sock", allowTokenless: undefined, stands: undefined },
      ],
      replaced: [main.url, jobs.url],
    });
    // A passed TCP socket on another port replaces the TCP listener, not the Unix ones.
    expect(view(placeInherited([main, tcp], [passed(3, "tcp://127.0.0.1:9000")]))).toMatchObject({ bound: [main.url], replaced: [tcp.url] });
  });

  it("a passed socket standing in for (or replacing) a TLS listener is refused", () => {
    const tls = { ...addr("tcp://127.0.0.1:7443"), tls: { certFile: "/c", keyFile: "/k" } };
    expect(() => placeInherited([main, tls], [passed(3, "tcp://127.0.0.1:7443")])).toThrow(/would replace the TLS listener tcp:\/\/127\.0\.0\.1:7443; socket activation does not support TLS listeners/);
    expect(() => placeInherited([main, tls], [passed(3, "tcp://127.0.0.1:9000")])).toThrow(/TLS listener/);
    // A Unix socket does not touch it.
    expect(view(placeInherited([main, tls], [passed(3, "unix:///run/tokenbroker/tokenbroker.sock")])).bound).toEqual([tls.url]);
  });

  it("sameAddress: the same Unix path (resolved), or the same TCP host and port; port 0 and an unknown path match nothing", () => {
    expect(sameAddress(addr("unix:///run/a/../tokenbroker/x.sock"), addr("unix:///run/tokenbroker/x.sock"))).toBe(true);
    expect(sameAddress(addr("unix:///run/tokenbroker/x.sock"), addr("unix:///run/tokenbroker/y.sock"))).toBe(false);
    expect(sameAddress(addr("tcp://127.0.0.1:7480"), addr("tcp://127.0.0.1:7480"))).toBe(true);
    expect(sameAddress(addr("tcp://127.0.0.1:7480"), addr("tcp://127.0.0.2:7480"))).toBe(false);
    expect(sameAddress(addr("tcp://127.0.0.1:0"), addr("tcp://127.0.0.1:0"))).toBe(false);
    expect(sameAddress(addr("tcp://127.0.0.1:7480"), addr("unix:///run/x.sock"))).toBe(false);
    expect(sameAddress(addr("unix:///x.sock"), { kind: "unix", path: "", url: "fd:3" })).toBe(false);
  });
});

// The built CLI under systemd-socket-activate, which binds the socket, waits
// (the tests connect only once it has logged "Listening on …": the socket
// file exists from bind(), and a connection before listen() is refused, so
// nothing would ever start the daemon)
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

  /**
   * deploy/systemd/config.example.yaml, with its paths moved into `dir` and
   * its web listener on a free port; listen.grpc a Unix socket that no passed
   * socket matches and a TCP port 0, unless `grpc` says otherwise.
   */
  function exampleConfig(dir: string, grpc?: unknown[]): { configPath: string; credentials: string } {
    const credentials = join(dir, "credentials");
    mkdirSync(credentials, { mode: 0o700 });
    writeFileSync(join(credentials, "tokenbroker-keys"), `${randomBytes(32).toString("base64")}\n`, { mode: 0o400 });
    writeFileSync(join(credentials, "github-client-secret"), "example-secret\n", { mode: 0o400 });
    const config = parse(readFileSync(join(DEPLOY, "config.example.yaml"), "utf8")) as Record<string, any>;
    expect(config.listen.grpc).toEqual(["unix:///run/tokenbroker/tokenbroker.sock", { address: "unix:///run/tokenbroker/jobs.sock", allow_tokenless: false }]);
    config.listen.grpc = grpc ?? [`unix://${dir}/configured.sock`, "tcp://127.0.0.1:0"];
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
    await waitFor("systemd-socket-activate to listen", () => daemon.log().includes(`Listening on ${sock} as 3.`), 10_000, () => daemon.log());
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

  it("a passed socket stands in for the configured listener at its path with its settings (jobs: no tokenless calls); the configured socket no passed one matches is bound by the daemon", async () => {
    const dir = tempDir("tb-activate-");
    const main = join(dir, "tokenbroker.sock");
    const jobs = join(dir, "jobs.sock");
    const port = await freePort();
    const { configPath, credentials } = exampleConfig(dir, [`unix://${main}`, { address: `unix://${jobs}`, allow_tokenless: false }, `tcp://127.0.0.1:${port}`]);
    const logPath = join(dir, "daemon.log");
    // systemd passes the jobs socket (tokenbroker-jobs.socket, FileDescriptorName=jobs) and a TCP one at the configured port; the main socket is not passed.
    const daemon = track(
      spawnLogged(activate, ["-l", jobs, "-l", `127.0.0.1:${port}`, "--fdname=jobs:grpc", "-E", `CREDENTIALS_DIRECTORY=${credentials}`, process.execPath, CLI, "serve", "--config", configPath], {
        cwd: dir,
        logPath,
        env: { PATH: process.env.PATH ?? "/usr/bin:/bin" },
      }),
    );
    await waitFor("systemd-socket-activate to listen", () => daemon.log().includes(`Listening on ${jobs} as 3.`), 10_000, () => daemon.log());
    expect(existsSync(main)).toBe(false);
    // The first call (on the jobs socket, no token) starts the daemon and is refused: the jobs listener's allow_tokenless: false.
    const jobsClient = grpcClient(AdminService, `unix://${jobs}`);
    cleanup.push(() => jobsClient.close());
    const denied = await grpcFailure(unary(jobsClient, "listProviders", {}, { deadlineMs: 30_000 }));
    expect(denied.code).toBe(grpc.status.UNAUTHENTICATED);
    expect(detailOf(denied)?.reason).toBe("CALLER_UNKNOWN");
    expect(denied.details).toMatch(/this socket requires a caller token/);
    const activated = daemon.lines().find((l) => l.msg === "using sockets passed by systemd");
    expect(activated).toMatchObject({
      inherited: [
        { fd: 3, name: "jobs", url: `unix://${jobs}`, listener: `unix://${jobs}` },
        { fd: 4, name: "grpc", url: `tcp://127.0.0.1:${port}`, listener: `tcp://127.0.0.1:${port}` },
      ],
      replaced: [`unix://${jobs}`, `tcp://127.0.0.1:${port}`],
    });
    // The main socket, which no passed socket matches, the daemon bound itself: tokenless calls served there.
    expect(lstatSync(main).isSocket()).toBe(true);
    const mainClient = grpcClient(AdminService, `unix://${main}`);
    cleanup.push(() => mainClient.close());
    expect((await unary<{ providers: unknown[] }>(mainClient, "listProviders", {})).providers).toHaveLength(1);
    const serving = daemon.lines().find((l) => l.msg === "serving") as { grpc: string[] } | undefined;
    expect([...serving!.grpc].sort()).toEqual([`unix://${main}`, `unix://${jobs}`, `tcp://127.0.0.1:${port}`].sort());
    // The passed TCP socket: a caller token required, as on the configured TCP listener.
    const tcpClient = grpcClient(AdminService, `127.0.0.1:${port}`);
    cleanup.push(() => tcpClient.close());
    expect((await grpcFailure(unary(tcpClient, "listProviders", {}))).code).toBe(grpc.status.UNAUTHENTICATED);
    const audited = daemon.lines().filter((l) => l.audit === true && l.method === "/tokenbroker.v1.AdminService/ListProviders") as Array<{ caller?: Record<string, unknown>; outcome?: Record<string, unknown> }>;
    expect(audited.map((l) => l.outcome?.grpc_code)).toEqual(["UNAUTHENTICATED", "OK", "UNAUTHENTICATED"]);
    expect(audited[0]!.caller).toMatchObject({ transport: "grpc+unix", uid: process.getuid!(), pid: process.pid });
    expect((await daemon.stop()).code).toBe(0);
    // The daemon removes the socket it bound, not the one systemd passed.
    expect(existsSync(main)).toBe(false);
    expect(lstatSync(jobs).isSocket()).toBe(true);
  });

  it("refuses a socket named jobs when no listen.grpc entry is at its path (it would be served tokenless)", async () => {
    const dir = tempDir("tb-activate-");
    const { configPath, credentials } = exampleConfig(dir);
    const sock = join(dir, "jobs.sock");
    const logPath = join(dir, "daemon.log");
    const daemon = track(
      spawnLogged(activate, ["-l", sock, "--fdname=jobs", "-E", `CREDENTIALS_DIRECTORY=${credentials}`, process.execPath, CLI, "serve", "--config", configPath], {
        cwd: dir,
        logPath,
        env: { PATH: process.env.PATH ?? "/usr/bin:/bin" },
      }),
    );
    await waitFor("systemd-socket-activate to listen", () => daemon.log().includes(`Listening on ${sock} as 3.`), 10_000, () => daemon.log());
    const poke = connect(sock);
    poke.on("error", () => {});
    cleanup.push(() => void poke.destroy());
    expect(await daemon.exited).toBe(1);
    expect(daemon.log()).toContain(`tokenbroker: socket activation: descriptor 3 is named "jobs" and is at unix://${sock}, where listen.grpc has no listener`);
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
    await waitFor("systemd-socket-activate to listen", () => daemon.log().includes(`Listening on ${sock} as 3.`), 10_000, () => daemon.log());
    const poke = connect(sock);
    poke.on("error", () => {});
    cleanup.push(() => void poke.destroy());
    expect(await daemon.exited).toBe(1);
    expect(daemon.log()).toContain('tokenbroker: socket activation: descriptor 3 is named "http"');
  });
});
