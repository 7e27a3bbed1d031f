import { randomBytes } from "node:crypto";
import { readFileSync, readlinkSync } from "node:fs";
import { hostname } from "node:os";

/**
 * Who holds a row's lease, written so that another process can tell whether
 * the holder still exists (docs/design.md §3 invariant 10, §4). An owner id
 * names the host, the kernel's boot, the pid namespace, the pid and the
 * process's start time, plus a random nonce so two lifetimes of one process
 * never share an id:
 *
 *   tb1:<host>:<boot id>:<pid namespace>:<pid>:<start ticks>:<nonce>
 *
 * The start time is what makes a pid trustworthy: pids are reused, but a
 * reused pid belongs to a process that started later.
 */
export interface OwnerIdentity {
  host: string;
  bootId: string;
  pidNamespace: string;
  pid: number;
  /** Field 22 of /proc/<pid>/stat (clock ticks since boot); "" where /proc is missing. */
  startTicks: string;
  nonce: string;
}

/** What a process can say about another lease holder. */
export type Liveness =
  /** This very process (a lease it left behind). */
  | "self"
  /** A process on this host that is still running. */
  | "alive"
  /** It was on this host and is gone: its pid is free or belongs to a later process, or the host rebooted. */
  | "dead"
  /** Another host, or an owner id this version cannot read: only its lease's expiry tells. */
  | "unknown";

/** Looks a pid up: its start ticks, null when there is no such process. */
export type ProcessProbe = (pid: number) => string | null;

const PREFIX = "tb1";

export function formatOwner(identity: OwnerIdentity): string {
  return [PREFIX, identity.host, identity.bootId, identity.pidNamespace, String(identity.pid), identity.startTicks, identity.nonce].join(":");
}

export function parseOwner(id: string): OwnerIdentity | undefined {
  const parts = id.split(":");
  if (parts.length !== 7 || parts[0] !== PREFIX) return undefined;
  const [, host, bootId, pidNamespace, pidText, startTicks, nonce] = parts as [string, string, string, string, string, string, string];
  const pid = Number(pidText);
  if (!Number.isSafeInteger(pid) || pid <= 0 || host === "" || nonce === "") return undefined;
  return { host, bootId, pidNamespace, pid, startTicks, nonce };
}

/** This process's identity, read once. */
export function currentIdentity(): OwnerIdentity {
  return {
    // ':' separates fields; a hostname cannot contain one, but be sure.
    host: hostname().replaceAll(":", "_") || "localhost",
    bootId: readTrimmed("/proc/sys/kernel/random/boot_id"),
    pidNamespace: pidNamespaceOf("self"),
    pid: process.pid,
    startTicks: readStat("self")?.startTicks ?? "",
    nonce: randomBytes(6).toString("hex"),
  };
}

/**
 * Judges a holder from this process's point of view. Conservative where it
 * cannot be sure: anything it cannot read counts as alive (same host) or
 * unknown (elsewhere), never dead, because declaring a live holder dead is
 * what lets a second process send the same single-use refresh token.
 */
export function livenessOf(holder: string, self: OwnerIdentity, probe: ProcessProbe = probeProcess): Liveness {
  const parsed = parseOwner(holder);
  if (parsed === undefined) return "unknown";
  if (parsed.host !== self.host || parsed.pidNamespace !== self.pidNamespace) return "unknown";
  // Same host, another boot: every process of that boot is gone.
  if (parsed.bootId !== "" && self.bootId !== "" && parsed.bootId !== self.bootId) return "dead";
  if (parsed.bootId !== self.bootId) return "unknown";
  // Same process, other nonce: another engine in this process (tests run several).
  if (parsed.pid === self.pid && parsed.startTicks === self.startTicks) return parsed.nonce === self.nonce ? "self" : "alive";
  const ticks = probe(parsed.pid);
  if (ticks === null) return "dead";
  if (parsed.startTicks !== "" && ticks !== "" && ticks !== parsed.startTicks) return "dead";
  return "alive";
}

/** /proc first (start time guards against pid reuse); kill(pid, 0) where /proc is missing. */
export function probeProcess(pid: number): string | null {
  const stat = readStat(String(pid));
  // A zombie has exited; only its parent has not collected it yet.
  if (stat !== undefined) return stat.state === "Z" || stat.state === "X" ? null : stat.startTicks;
  try {
    process.kill(pid, 0);
    return "";
  } catch (err) {
    // EPERM: it exists, under another user.
    return (err as NodeJS.ErrnoException).code === "ESRCH" ? null : "";
  }
}

/** Fields 3 (state) and 22 (start time); undefined when /proc/<pid>/stat cannot be read (no such process, or no /proc). */
function readStat(pid: string): { state: string; startTicks: string } | undefined {
  let stat: string;
  try {
    stat = readFileSync(`/proc/${pid}/stat`, "utf8");
  } catch {
    return undefined;
  }
  // The command name (field 2) may hold spaces and parentheses: count from the last ')'.
  const fields = stat.slice(stat.lastIndexOf(")") + 2).split(" ");
  return { state: fields[0] ?? "", startTicks: fields[19] ?? "" };
}

function pidNamespaceOf(pid: string): string {
  try {
    return readlinkSync(`/proc/${pid}/ns/pid`).replace(/[^0-9]/g, "");
  } catch {
    return "";
  }
}

function readTrimmed(path: string): string {
  try {
    return readFileSync(path, "utf8").trim().replaceAll(":", "");
  } catch {
    return "";
  }
}

/** For messages and logs: "process 1234 on host h" (nothing in an owner id is secret). */
export function describeOwner(owner: string): string {
  const parsed = parseOwner(owner);
  return parsed === undefined ? "another process" : `process ${parsed.pid} on host ${parsed.host}`;
}
