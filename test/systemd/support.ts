import { spawn, spawnSync, type ChildProcess } from "node:child_process";
import { closeSync, openSync, readFileSync } from "node:fs";
import { join, resolve } from "node:path";
import { setTimeout as sleep } from "node:timers/promises";

/**
 * Resolves a tool these tests need, or throws a message saying how to get
 * it: a missing tool fails the suite, it never skips it silently.
 */
export function requireTool(name: string, debianPackage: string): string {
  const found = spawnSync("sh", ["-c", `command -v ${name}`], { encoding: "utf8" });
  const path = found.stdout.trim();
  if (found.status !== 0 || path === "") {
    throw new Error(`${name} is not installed; the systemd tests need it (Debian: apt-get install ${debianPackage}; .ci/run installs it)`);
  }
  return path;
}

export async function waitFor<T>(what: string, probe: () => T | undefined | false, timeoutMs = 20_000, detail: () => string = () => ""): Promise<T> {
  const deadline = Date.now() + timeoutMs;
  for (;;) {
    const v = probe();
    if (v !== undefined && v !== false) return v;
    if (Date.now() > deadline) throw new Error(`timed out waiting for ${what}\n${detail()}`);
    await sleep(20);
  }
}

/** A process whose stdout and stderr go to a file (so its writes are on disk the moment it makes them). */
export interface LoggedProcess {
  child: ChildProcess;
  readonly pid: number;
  exited: Promise<number | null>;
  log(): string;
  /** JSON log lines of the daemon (behind their `<N>` priority prefix when log.format is journald, as in config.example.yaml). */
  lines(): Array<Record<string, unknown>>;
  stop(signal?: NodeJS.Signals): Promise<{ code: number | null; ms: number }>;
}

export function spawnLogged(command: string, args: string[], opts: { env: NodeJS.ProcessEnv; cwd: string; logPath: string }): LoggedProcess {
  const fd = openSync(opts.logPath, "a");
  const child = spawn(command, args, { cwd: opts.cwd, env: opts.env, stdio: ["ignore", fd, fd] });
  closeSync(fd);
  const exited = new Promise<number | null>((r) => child.once("exit", (code) => r(code)));
  const log = (): string => readFileSync(opts.logPath, "utf8");
  return {
    child,
    pid: child.pid!,
    exited,
    log,
    lines: () =>
      log()
        .split("\n")
        .map((l) => l.replace(/^<\d>(?=\{)/, ""))
        .filter((l) => l.startsWith("{"))
        .map((l) => JSON.parse(l) as Record<string, unknown>),
    async stop(signal = "SIGTERM") {
      const started = performance.now();
      if (child.exitCode === null && child.signalCode === null) child.kill(signal);
      const code = await exited;
      return { code, ms: performance.now() - started };
    },
  };
}

export interface NotifyMessage {
  assignments: string[];
  /** The sender's pid (SCM_CREDENTIALS). */
  pid: number | null;
  /** Size of the daemon's log when the datagram arrived. */
  logBytes: number;
  t: number;
}

export interface NotifyReceiver {
  messages(): NotifyMessage[];
  /** Messages carrying `assignment` (e.g. "READY=1"). */
  with(assignment: string): NotifyMessage[];
  close(): Promise<void>;
}

const RECEIVER = resolve(import.meta.dirname, "notify-receiver.py");

/**
 * Receives sd_notify datagrams on `socketName` (a path, or @name) through a
 * python3 child: Node cannot open AF_UNIX SOCK_DGRAM sockets.
 */
export async function startNotifyReceiver(socketName: string, daemonLogPath: string): Promise<NotifyReceiver> {
  const python = requireTool("python3", "python3");
  const child = spawn(python, [RECEIVER, socketName, daemonLogPath], { stdio: ["pipe", "pipe", "pipe"] });
  const messages: NotifyMessage[] = [];
  let out = "";
  let err = "";
  let listening = false;
  child.stderr.on("data", (d: Buffer) => (err += d.toString()));
  child.stdout.on("data", (d: Buffer) => {
    out += d.toString();
    let nl: number;
    while ((nl = out.indexOf("\n")) >= 0) {
      const line = out.slice(0, nl);
      out = out.slice(nl + 1);
      if (line === "LISTENING") listening = true;
      else if (line.startsWith("{")) messages.push(JSON.parse(line) as NotifyMessage);
    }
  });
  const exited = new Promise<void>((r) => child.once("exit", () => r()));
  let gone = false;
  void exited.then(() => (gone = true));
  await waitFor("the sd_notify receiver", () => listening || gone, 10_000);
  if (!listening) throw new Error(`the sd_notify receiver did not start: ${err}`);
  // systemd-notify follows each message with a BARRIER=1 of its own.
  const real = (): NotifyMessage[] => messages.filter((m) => !(m.assignments.length === 1 && m.assignments[0] === "BARRIER=1"));
  return {
    messages: real,
    with: (assignment) => real().filter((m) => m.assignments.includes(assignment)),
    async close() {
      child.stdin.end();
      const t = setTimeout(() => child.kill("SIGKILL"), 5_000);
      await exited;
      clearTimeout(t);
    },
  };
}

/** The daemon's log as it was when a datagram arrived. */
export function logAt(fullLog: string, m: NotifyMessage): string {
  return Buffer.from(fullLog).subarray(0, m.logBytes).toString();
}

export const REPO = resolve(import.meta.dirname, "../..");
export const DEPLOY = join(REPO, "deploy/systemd");
