import { spawn } from "node:child_process";
import { createRequire } from "node:module";
import type { Logger } from "../log.js";

/**
 * sd_notify(3) for Node. Node cannot open an AF_UNIX SOCK_DGRAM socket, so
 * messages go out through the native `unix-dgram` addon, from this (the main)
 * process, which the default NotifyAccess=main accepts. unix-dgram cannot
 * address abstract sockets (NOTIFY_SOCKET=@name: it copies the path with
 * strncpy, which stops at the leading NUL), so for those — and if the addon
 * fails to load — each message is handed to `systemd-notify`, a child process
 * (the manager then has to accept it: NotifyAccess=all).
 *
 * Without NOTIFY_SOCKET every method is a no-op.
 */
export interface Notifier {
  /** True when NOTIFY_SOCKET was set. */
  readonly enabled: boolean;
  /** The WATCHDOG=1 period in ms, when the manager asked for pings. */
  readonly watchdogIntervalMs: number | undefined;
  /** Sends VARIABLE=VALUE assignments in one datagram. Never throws. */
  notify(...assignments: string[]): void;
  /** READY=1 (and STATUS=, when given). */
  ready(status?: string): void;
  /** STOPPING=1 (and STATUS=, when given). */
  stopping(status?: string): void;
  status(text: string): void;
  /**
   * WATCHDOG=1 every WATCHDOG_USEC/2 from a timer on the event loop, so a
   * blocked loop misses its pings and the manager kills and restarts us.
   * Only when WATCHDOG_USEC is set (and WATCHDOG_PID, if set, is our pid).
   */
  startWatchdog(): void;
  /** Stops the pings, waits for messages still in flight, closes the socket. */
  close(): Promise<void>;
}

export interface NotifierOptions {
  /** Read NOTIFY_SOCKET, WATCHDOG_USEC and WATCHDOG_PID from here (default process.env). */
  env?: NodeJS.ProcessEnv;
  /** Our pid, compared with WATCHDOG_PID (default process.pid). */
  pid?: number;
  /**
   * Remove NOTIFY_SOCKET, WATCHDOG_USEC and WATCHDOG_PID from `env` after
   * reading them, like sd_notify(unset_environment=1), so child processes do
   * not inherit them (default true).
   */
  unsetEnvironment?: boolean;
  log?: Logger;
}

const NOTIFY_ENV = ["NOTIFY_SOCKET", "WATCHDOG_USEC", "WATCHDOG_PID"] as const;

export function createNotifier(opts: NotifierOptions = {}): Notifier {
  const env = opts.env ?? process.env;
  const pid = opts.pid ?? process.pid;
  const socketName = env.NOTIFY_SOCKET;
  const watchdogIntervalMs = watchdogInterval(env, pid);
  if (opts.unsetEnvironment ?? true) for (const k of NOTIFY_ENV) delete env[k];
  if (socketName === undefined || socketName === "") return disabledNotifier;

  const log = opts.log;
  let warned = false;
  const onError = (err: unknown): void => {
    // Worth one line: the manager may be gone, or NOTIFY_SOCKET is wrong.
    if (warned) return;
    warned = true;
    log?.warn({ err: { message: err instanceof Error ? err.message : String(err) }, notifySocket: socketName }, "sd_notify failed");
  };
  const transport = openTransport(socketName, onError);
  let timer: NodeJS.Timeout | undefined;

  const notify = (...assignments: string[]): void => {
    if (assignments.length === 0) return;
    try {
      transport.send(`${assignments.join("\n")}\n`);
    } catch (err) {
      onError(err);
    }
  };
  const withStatus = (head: string, status: string | undefined): string[] => (status === undefined ? [head] : [head, statusLine(status)]);

  return {
    enabled: true,
    watchdogIntervalMs,
    notify,
    ready: (status) => notify(...withStatus("READY=1", status)),
    stopping: (status) => notify(...withStatus("STOPPING=1", status)),
    status: (text) => notify(statusLine(text)),
    startWatchdog() {
      if (watchdogIntervalMs === undefined || timer !== undefined) return;
      notify("WATCHDOG=1");
      // unref: the pings must not keep a daemon that has finished alive.
      timer = setInterval(() => notify("WATCHDOG=1"), watchdogIntervalMs).unref();
    },
    async close() {
      if (timer !== undefined) clearInterval(timer);
      timer = undefined;
      await transport.close();
    },
  };
}

const disabledNotifier: Notifier = {
  enabled: false,
  watchdogIntervalMs: undefined,
  notify() {},
  ready() {},
  stopping() {},
  status() {},
  startWatchdog() {},
  async close() {},
};

/** Half of WATCHDOG_USEC, in ms, when the watchdog is meant for `pid`. */
export function watchdogInterval(env: NodeJS.ProcessEnv, pid: number): number | undefined {
  const usec = env.WATCHDOG_USEC;
  if (usec === undefined || !/^\d+$/.test(usec) || Number(usec) === 0) return undefined;
  const wpid = env.WATCHDOG_PID;
  if (wpid !== undefined && wpid !== "" && wpid !== String(pid)) return undefined;
  return Math.max(1, Math.floor(Number(usec) / 2000));
}

function statusLine(text: string): string {
  return `STATUS=${text.replace(/[\r\n]+/g, " ")}`;
}

interface Transport {
  send(message: string): void;
  close(): Promise<void>;
}

function openTransport(socketName: string, onError: (err: unknown) => void): Transport {
  const abstract = socketName.startsWith("@");
  if (!abstract) {
    const dgram = loadUnixDgram();
    if (dgram !== undefined) return dgramTransport(dgram, socketName, onError);
  }
  return systemdNotifyTransport(socketName, onError);
}

interface UnixDgramSocket {
  on(event: "error", listener: (err: Error) => void): void;
  on(event: "writable", listener: () => void): void;
  send(buf: Buffer, offset: number, length: number, path: string, callback: (err?: Error & { code?: unknown }) => void): void;
  close(): void;
}
interface UnixDgram {
  createSocket(type: "unix_dgram"): UnixDgramSocket;
}

function loadUnixDgram(): UnixDgram | undefined {
  try {
    return createRequire(import.meta.url)("unix-dgram") as UnixDgram;
  } catch {
    return undefined;
  }
}

/** Datagrams from our own pid; resends what the kernel refused with EAGAIN once writable. */
function dgramTransport(dgram: UnixDgram, path: string, onError: (err: unknown) => void): Transport {
  const socket = dgram.createSocket("unix_dgram");
  let open = true;
  const backlog: Buffer[] = [];
  socket.on("error", onError);
  const sendOne = (buf: Buffer): void => {
    socket.send(buf, 0, buf.length, path, (err) => {
      if (err === undefined || err === null) return;
      // unix-dgram reports EAGAIN as code 1 ("congestion") and emits
      // "writable" when the socket drains.
      if (err.code === 1) backlog.push(buf);
      else onError(err);
    });
  };
  socket.on("writable", () => {
    for (const buf of backlog.splice(0)) if (open) sendOne(buf);
  });
  return {
    send(message) {
      if (!open) return;
      const buf = Buffer.from(message);
      if (backlog.length > 0) backlog.push(buf);
      else sendOne(buf);
    },
    async close() {
      if (!open) return;
      open = false;
      // The addon watches the socket on the event loop; closing releases it.
      socket.close();
    },
  };
}

/**
 * One `systemd-notify VAR=VALUE...` per message, in order. A WATCHDOG=1 ping
 * is dropped while another one is still queued.
 */
function systemdNotifyTransport(socketName: string, onError: (err: unknown) => void): Transport {
  let chain: Promise<void> = Promise.resolve();
  let pingQueued = false;
  let open = true;
  const run = (assignments: string[]): Promise<void> =>
    new Promise((resolve) => {
      const child = spawn("systemd-notify", assignments, {
        stdio: "ignore",
        env: { ...process.env, NOTIFY_SOCKET: socketName },
      });
      child.once("error", (err) => {
        onError(err);
        resolve();
      });
      child.once("exit", (code) => {
        if (code !== 0) onError(new Error(`systemd-notify exited with ${code}`));
        resolve();
      });
    });
  return {
    send(message) {
      if (!open) return;
      const assignments = message.split("\n").filter((l) => l !== "");
      const ping = assignments.length === 1 && assignments[0] === "WATCHDOG=1";
      if (ping) {
        if (pingQueued) return;
        pingQueued = true;
      }
      chain = chain.then(() => {
        if (ping) pingQueued = false;
        return run(assignments);
      });
    },
    async close() {
      open = false;
      await chain;
    },
  };
}
