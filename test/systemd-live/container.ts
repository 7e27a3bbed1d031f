/**
 * A Debian 12 container booted with systemd-nspawn (systemd as PID 1), for
 * test/systemd-live: the root filesystem is built once per machine
 * (build-rootfs.sh, cached under /var/cache/tokenbroker-test) and booted with
 * --volatile=overlay, so every write of a run lands in a tmpfs overlay and the
 * cached tree is never changed. Commands run inside through nsenter on the
 * container's PID 1. destroy() kills PID 1 (which ends every process in the
 * container's PID namespace and with it the container's mounts), kills
 * nspawn's process group, and reports anything left behind.
 */
import { spawn, spawnSync, type ChildProcess } from "node:child_process";
import { accessSync, chmodSync, closeSync, constants, existsSync, mkdirSync, openSync, readdirSync, readFileSync, rmSync, writeFileSync } from "node:fs";
import { tmpdir } from "node:os";
import { dirname, join, resolve } from "node:path";
import { setTimeout as sleep } from "node:timers/promises";

export const LIVE_DIR = import.meta.dirname;
export const REPO = resolve(LIVE_DIR, "../..");
export const CACHE_DIR = process.env.TOKENBROKER_TEST_ROOTFS_CACHE ?? "/var/cache/tokenbroker-test";

const hasCommand = (name: string): boolean => spawnSync("sh", ["-c", `command -v ${name}`]).status === 0;

/**
 * Why this machine cannot boot the container, or undefined when it can:
 * root, systemd-nspawn and debootstrap installed, /proc/sys writable (not a
 * locked-down container), overlayfs available (--volatile=overlay).
 */
export function liveSkipReason(): string | undefined {
  if (process.platform !== "linux") return "not Linux";
  if (process.getuid?.() !== 0) return "not root (systemd-nspawn needs root)";
  for (const [tool, pkg] of [["systemd-nspawn", "systemd-container"], ["debootstrap", "debootstrap"], ["nsenter", "util-linux"]] as const) {
    if (!hasCommand(tool)) return `${tool} is not installed (Debian: apt-get install ${pkg}; .ci/run installs it)`;
  }
  try {
    accessSync("/proc/sys/kernel/hostname", constants.W_OK);
  } catch {
    return "/proc/sys is read-only here (an unprivileged container cannot boot another)";
  }
  if (!/\boverlay\b/.test(readFileSync("/proc/filesystems", "utf8"))) return "the kernel has no overlayfs (systemd-nspawn --volatile=overlay)";
  return undefined;
}

/** The cached root filesystem's path, building it first if needed (minutes, once per machine). */
export function rootfs(): string {
  const r = spawnSync(join(LIVE_DIR, "build-rootfs.sh"), [CACHE_DIR], { encoding: "utf8", stdio: ["ignore", "pipe", "pipe"], timeout: 30 * 60_000 });
  if (r.status !== 0) throw new Error(`build-rootfs.sh failed (${r.status ?? r.signal}):\n${r.stderr}`);
  return r.stdout.trim().split("\n").at(-1)!;
}

/**
 * deploy/systemd/INSTALL.md step 1 into a fresh directory (0755: the service
 * runs as a dynamic user), from this checkout as built by `npm test`:
 * copy package.json, the lock file, node_modules, README, LICENSE,
 * dist/src + dist/gen and the peercred addon (binding.gyp,
 * build/Release/peercred.node), then prune the dev dependencies in the copy.
 */
export function installProgram(into: string): void {
  const sh = (cmd: string, cwd: string): void => {
    const r = spawnSync("sh", ["-c", cmd], { cwd, encoding: "utf8" });
    if (r.status !== 0) throw new Error(`install step failed: ${cmd}\n${r.stdout}${r.stderr}`);
  };
  for (const f of ["dist/src/main.js", "dist/gen", "build/Release/peercred.node"]) if (!existsSync(join(REPO, f))) throw new Error(`${f} is missing: run \`npm run build\` first (npm test does; \`npm ci\` builds the peercred addon)`);
  mkdirSync(into, { recursive: true });
  chmodSync(into, 0o755);
  // -H: node_modules may itself be a symlink (a worktree sharing another's).
  sh(`install -d -m 0755 '${into}/dist' && cp -rH package.json package-lock.json node_modules README.md LICENSE '${into}/' && cp -r dist/src dist/gen '${into}/dist/' && cp binding.gyp '${into}/' && install -D -m 0755 build/Release/peercred.node '${into}/build/Release/peercred.node'`, REPO);
  sh("npm prune --omit=dev --ignore-scripts --no-audit --no-fund --loglevel=error", into);
  sh("chmod -R a+rX . && chmod 0755 dist/src/main.js", into);
}

export interface Bind {
  host: string;
  inside: string;
  readOnly?: boolean;
}

export interface RunResult {
  code: number | null;
  stdout: string;
  stderr: string;
  ms: number;
}

export class Container {
  private exitHook = (): void => this.killNow();
  private constructor(
    readonly nspawn: ChildProcess,
    readonly pid1: number,
    readonly machine: string,
    readonly consoleLog: string,
  ) {
    process.once("exit", this.exitHook);
  }

  /**
   * Boots ROOT (read-only underneath a tmpfs overlay) on a private network
   * with the given binds, and waits until systemd reports the boot finished.
   */
  static async boot(root: string, binds: Bind[], workDir: string): Promise<Container> {
    const machine = `tb-live-${process.pid}`;
    const consoleLog = join(workDir, "console.log");
    const args = [
      "-q",
      "-D",
      root,
      `--machine=${machine}`,
      "--register=no",
      "--keep-unit",
      "--console=passive",
      "--private-network",
      "--volatile=overlay",
      ...binds.map((b) => `--bind${b.readOnly === false ? "" : "-ro"}=${b.host}:${b.inside}`),
      "-b",
    ];
    const fd = openSync(consoleLog, "a");
    // detached: its own process group, killed as one in destroy().
    const nspawn = spawn("systemd-nspawn", args, { stdio: ["ignore", fd, fd], detached: true, env: { ...process.env, SYSTEMD_LOG_COLOR: "0" } });
    closeSync(fd);
    let pid1: number | undefined;
    const deadline = Date.now() + 30_000;
    while (pid1 === undefined) {
      if (nspawn.exitCode !== null || nspawn.signalCode !== null || Date.now() > deadline) {
        try {
          process.kill(-nspawn.pid!, "SIGKILL");
        } catch {
          // gone
        }
        throw new Error(`systemd-nspawn did not start a container:\n${readFileSync(consoleLog, "utf8").slice(-3000)}`);
      }
      pid1 = childPid(nspawn.pid!);
      if (pid1 === undefined) await sleep(50);
    }
    const c = new Container(nspawn, pid1, machine, consoleLog);
    // `is-system-running --wait` exits 0 for "running", 1 for "degraded" (a unit failed): both mean booted.
    for (;;) {
      const r = await c.run("systemctl is-system-running --wait", { allowFail: true, timeoutMs: 60_000 });
      const state = r.stdout.trim();
      if (state === "running") break;
      if (state === "degraded") {
        const failed = await c.run("systemctl --failed --no-legend --plain", { allowFail: true });
        await c.destroy();
        throw new Error(`the container booted degraded:\n${failed.stdout}`);
      }
      if (Date.now() > deadline + 60_000) {
        await c.destroy();
        throw new Error(`the container did not finish booting (${state}):\n${r.stderr}`);
      }
      await sleep(100);
    }
    return c;
  }

  /** The container's file system, seen from the host (its mount namespace, through /proc). */
  path(inside: string): string {
    return `/proc/${this.pid1}/root${inside}`;
  }

  writeFile(inside: string, text: string, mode = 0o644): void {
    mkdirSync(dirname(this.path(inside)), { recursive: true });
    writeFileSync(this.path(inside), text, { mode });
    chmodSync(this.path(inside), mode);
  }

  readFile(inside: string): string {
    return readFileSync(this.path(inside), "utf8");
  }

  private argv(command: string): string[] {
    return ["-t", String(this.pid1), "-a", "env", "-i", "PATH=/usr/local/sbin:/usr/local/bin:/usr/sbin:/usr/bin:/sbin:/bin", "HOME=/root", "LANG=C.UTF-8", "SYSTEMD_COLORS=0", "SYSTEMD_PAGER=", "/bin/sh", "-c", command];
  }

  /** Runs a shell command inside the container as root; throws on a non-zero exit unless allowFail. */
  run(command: string, opts: { allowFail?: boolean; timeoutMs?: number; input?: string } = {}): Promise<RunResult> {
    const started = performance.now();
    return new Promise((resolveRun, reject) => {
      const child = spawn("nsenter", this.argv(command), { stdio: ["pipe", "pipe", "pipe"] });
      let stdout = "";
      let stderr = "";
      child.stdout.on("data", (d: Buffer) => (stdout += d.toString()));
      child.stderr.on("data", (d: Buffer) => (stderr += d.toString()));
      child.stdin.on("error", () => undefined); // a command that reads nothing may exit first
      child.stdin.end(opts.input ?? "");
      const timer = setTimeout(() => child.kill("SIGKILL"), opts.timeoutMs ?? 30_000);
      child.once("error", reject);
      child.once("close", (code, signal) => {
        clearTimeout(timer);
        const r = { code: code ?? (signal !== null ? -1 : null), stdout, stderr, ms: performance.now() - started };
        if (r.code !== 0 && opts.allowFail !== true) reject(new Error(`in the container, \`${command}\` exited ${code ?? signal}:\n${stdout}${stderr}`));
        else resolveRun(r);
      });
    });
  }

  /** Starts a command inside and returns at once; `done` settles when it exits. */
  start(command: string): { done: Promise<RunResult> } {
    return { done: this.run(command, { allowFail: true, timeoutMs: 120_000 }) };
  }

  private killNow(): void {
    for (const target of [this.pid1, -this.nspawn.pid!]) {
      try {
        process.kill(target, "SIGKILL");
      } catch {
        // already gone
      }
    }
  }

  /**
   * Ends the container at once: SIGKILL to its PID 1 ends its PID namespace
   * (the kernel kills every process in it) and its mounts go with its mount
   * namespace; nspawn, which waits for its container, then exits by itself
   * (its process group is killed if it does not). Then checks that nothing is
   * left: no nspawn, no PID 1, no mount naming the machine. Returns what was left.
   */
  async destroy(): Promise<string[]> {
    process.off("exit", this.exitHook);
    const nspawnGone = (): boolean => this.nspawn.exitCode !== null || this.nspawn.signalCode !== null;
    const exited = nspawnGone() ? Promise.resolve() : new Promise<void>((r) => this.nspawn.once("exit", () => r()));
    try {
      process.kill(this.pid1, "SIGKILL");
    } catch {
      // already gone
    }
    await Promise.race([exited, sleep(10_000)]);
    if (!nspawnGone()) {
      this.killNow();
      await Promise.race([exited, sleep(5_000)]);
    }
    const pid1Alive = (): boolean => {
      try {
        return !/\) [ZX] /.test(readFileSync(`/proc/${this.pid1}/stat`, "utf8"));
      } catch {
        return false;
      }
    };
    for (let i = 0; pid1Alive() && i < 100; i++) await sleep(100);
    const left: string[] = [];
    if (!nspawnGone()) left.push(`systemd-nspawn (pid ${this.nspawn.pid}) still running`);
    if (pid1Alive()) left.push(`the container's PID 1 (${this.pid1}) still running`);
    const mounts = readFileSync("/proc/self/mountinfo", "utf8").split("\n").filter((l) => l.includes(this.machine) || l.includes("nspawn-volatile"));
    left.push(...mounts.map((m) => `mount left: ${m}`));
    return left;
  }
}

/**
 * The child of `pid` that is PID 1 of its own PID namespace (nspawn's
 * container init; before it exists nspawn has a short-lived helper child).
 */
function childPid(pid: number): number | undefined {
  try {
    for (const task of readdirSync(`/proc/${pid}/task`)) {
      for (const kid of readFileSync(`/proc/${pid}/task/${task}/children`, "utf8").trim().split(/\s+/).filter(Boolean)) {
        const nspid = /^NSpid:\s*(.*)$/m.exec(readFileSync(`/proc/${kid}/status`, "utf8"))?.[1]?.trim().split(/\s+/);
        if (nspid !== undefined && nspid.length > 1 && nspid.at(-1) === "1") return Number(kid);
      }
    }
  } catch {
    // not yet, or the helper just exited
  }
  return undefined;
}

/**
 * Containers of earlier runs whose test process died without cleaning up
 * (killed by a signal, so no "exit" hook): nspawn processes started with
 * --machine=tb-live-PID where PID is gone. Their PID 1 and nspawn are killed,
 * and such runs' work directories (tokenbroker-live-PID-* in the temp dir) removed.
 */
export function killStaleContainers(): void {
  for (const pid of readdirSync("/proc").filter((d) => /^\d+$/.test(d))) {
    let argv: string[];
    try {
      argv = readFileSync(`/proc/${pid}/cmdline`, "utf8").split("\0");
    } catch {
      continue;
    }
    if (!argv[0]?.endsWith("systemd-nspawn")) continue;
    const owner = argv.map((a) => /^--machine=tb-live-(\d+)$/.exec(a)?.[1]).find((x) => x !== undefined);
    if (owner === undefined || existsSync(`/proc/${owner}`)) continue;
    const init = childPid(Number(pid));
    for (const target of [init, Number(pid)]) {
      try {
        if (target !== undefined) process.kill(target, "SIGKILL");
      } catch {
        // gone
      }
    }
  }
  for (const d of readdirSync(tmpdir())) {
    const owner = /^tokenbroker-live-(\d+)-/.exec(d)?.[1];
    if (owner !== undefined && !existsSync(`/proc/${owner}`)) rmSync(join(tmpdir(), d), { recursive: true, force: true });
  }
}

/** The prefix of a run's work directory (tempDir): the sweep above knows a dead run's by its pid. */
export const WORK_PREFIX = `tokenbroker-live-${process.pid}-`;
