import { existsSync, readFileSync, readdirSync, statSync } from "node:fs";
import { basename } from "node:path";

/** The files of a SQLite database another process may hold open. */
const SIDE_FILES = ["", "-wal", "-shm", "-journal"] as const;
/** A command line is shown at most this long: the middle goes (the program and its last arguments say most). */
const MAX_COMMAND_CHARS = 400;

/** A process that holds a database's files open. */
export interface FileHolder {
  pid: number;
  /** Its command line (as /proc shows it, arguments joined by spaces), at most 400 characters. */
  command: string;
  /** Which of the files: `tb.db`, `tb.db-wal`, … */
  files: string[];
}

export interface HolderScan {
  /** False where there is no /proc to look in (not Linux): nothing can be said. */
  supported: boolean;
  holders: FileHolder[];
  /** Processes whose open files this process may not see (another user's, without root). */
  unreadable: number;
}

/**
 * Which other processes hold the SQLite database at `path` open — the file
 * or its -wal, -shm or -journal — found through /proc/PID/fd: each open
 * descriptor is stat()ed and compared by device and inode, so a symlink, a
 * hard link, a bind mount or another mount namespace's path to the same
 * file is still the same file. This process is left out. Another user's
 * processes are visible only to root (or to that user): they are counted in
 * `unreadable`, never guessed.
 */
export function findHolders(path: string): HolderScan {
  const targets = new Map<string, string>();
  for (const suffix of SIDE_FILES) {
    const file = `${path}${suffix}`;
    const st = statOrUndefined(file);
    if (st !== undefined) targets.set(`${st.dev}:${st.ino}`, basename(file));
  }
  if (!existsSync("/proc/self/fd")) return { supported: false, holders: [], unreadable: 0 };
  const holders: FileHolder[] = [];
  let unreadable = 0;
  for (const entry of readdirSync("/proc")) {
    if (!/^\d+$/.test(entry)) continue;
    const pid = Number(entry);
    if (pid === process.pid) continue;
    let fds: string[];
    try {
      fds = readdirSync(`/proc/${pid}/fd`);
    } catch (err) {
      // ENOENT: it exited meanwhile. EACCES: not ours to see.
      if ((err as NodeJS.ErrnoException).code !== "ENOENT") unreadable++;
      continue;
    }
    const files = new Set<string>();
    for (const fd of fds) {
      const st = statOrUndefined(`/proc/${pid}/fd/${fd}`);
      const name = st === undefined ? undefined : targets.get(`${st.dev}:${st.ino}`);
      if (name !== undefined) files.add(name);
    }
    if (files.size > 0) holders.push({ pid, command: commandLine(pid), files: [...files].sort() });
  }
  return { supported: true, holders, unreadable };
}

/** "pid 1234 (node /usr/bin/tokenbroker serve) holds tb.db, tb.db-wal" for each holder. */
export function describeHolders(holders: readonly FileHolder[]): string {
  return holders.map((h) => `pid ${h.pid} (${h.command}) holds ${h.files.join(", ")}`).join("; ");
}

function statOrUndefined(path: string): { dev: bigint; ino: bigint } | undefined {
  try {
    // bigint: an inode number may not fit a double exactly.
    const st = statSync(path, { bigint: true });
    return { dev: st.dev, ino: st.ino };
  } catch {
    // Gone, not ours to see, or a descriptor closed meanwhile.
    return undefined;
  }
}

function commandLine(pid: number): string {
  let command: string;
  try {
    command = readFileSync(`/proc/${pid}/cmdline`, "utf8").split("\0").filter((a) => a !== "").join(" ");
    if (command === "") command = `[${readFileSync(`/proc/${pid}/comm`, "utf8").trim()}]`;
  } catch {
    command = "unknown command";
  }
  if (command.length <= MAX_COMMAND_CHARS) return command;
  const head = Math.floor(MAX_COMMAND_CHARS / 4);
  return `${command.slice(0, head)}…${command.slice(command.length - (MAX_COMMAND_CHARS - head - 1))}`;
}
