/**
 * docs/design.md §3 invariant 10: a holder on this host that is gone is
 * recognised at once — its pid free, or reused by a process that started
 * later, or the host rebooted — while anything this process cannot be sure
 * of counts as alive (this host) or unknown (elsewhere), never dead.
 * Against real processes and the real /proc.
 */
import { spawn, type ChildProcess } from "node:child_process";
import { readFileSync } from "node:fs";
import { afterEach, describe, expect, it } from "vitest";
import { currentIdentity, describeOwner, formatOwner, livenessOf, parseOwner, probeProcess, type OwnerIdentity } from "../../src/broker/lease-owner.js";

const children: ChildProcess[] = [];
afterEach(() => {
  for (const c of children.splice(0)) c.kill("SIGKILL");
});

function startChild(): ChildProcess {
  const child = spawn(process.execPath, ["-e", "setInterval(() => {}, 1000)"], { stdio: "ignore" });
  children.push(child);
  return child;
}

function ticksOf(pid: number): string {
  const stat = readFileSync(`/proc/${pid}/stat`, "utf8");
  return stat.slice(stat.lastIndexOf(")") + 2).split(" ")[19]!;
}

function ownerFor(self: OwnerIdentity, pid: number, over: Partial<OwnerIdentity> = {}): string {
  return formatOwner({ ...self, pid, startTicks: ticksOf(pid), nonce: "abcdef", ...over });
}

describe("lease owner ids", () => {
  const self = currentIdentity();

  it("round-trip through format and parse, and name only pid and host", () => {
    const id = formatOwner(self);
    expect(parseOwner(id)).toEqual(self);
    expect(describeOwner(id)).toBe(`process ${process.pid} on host ${self.host}`);
    expect(parseOwner("host:1234:abcd")).toBeUndefined();
    expect(parseOwner(id.replace(/^tb1/, "tb9"))).toBeUndefined();
    expect(describeOwner("legacy-owner")).toBe("another process");
  });

  it("read this process's boot id, pid namespace and start time from /proc", () => {
    expect(self.bootId).toMatch(/^[0-9a-f-]{36}$/);
    expect(self.pidNamespace).toMatch(/^\d+$/);
    expect(self.startTicks).toBe(ticksOf(process.pid));
  });

  it("a running process on this host is alive; once killed it is dead", async () => {
    const child = startChild();
    const pid = child.pid!;
    await new Promise((r) => setTimeout(r, 50));
    const owner = ownerFor(self, pid);
    expect(livenessOf(owner, self)).toBe("alive");
    const exited = new Promise((r) => child.once("exit", r));
    child.kill("SIGKILL");
    await exited;
    expect(probeProcess(pid)).toBeNull();
    expect(livenessOf(owner, self)).toBe("dead");
  });

  it("a paused process (SIGSTOP) is alive: pausing is not dying", async () => {
    const child = startChild();
    await new Promise((r) => setTimeout(r, 50));
    process.kill(child.pid!, "SIGSTOP");
    try {
      expect(livenessOf(ownerFor(self, child.pid!), self)).toBe("alive");
    } finally {
      process.kill(child.pid!, "SIGCONT");
    }
  });

  it("a reused pid (same pid, later start time) is dead", () => {
    const child = startChild();
    const reused = ownerFor(self, child.pid!, { startTicks: String(Number(ticksOf(child.pid!)) - 1) });
    expect(livenessOf(reused, self)).toBe("dead");
  });

  it("another boot of this host is dead; another host or pid namespace is unknown", () => {
    const child = startChild();
    expect(livenessOf(ownerFor(self, child.pid!, { bootId: "00000000-0000-0000-0000-000000000000" }), self)).toBe("dead");
    expect(livenessOf(ownerFor(self, child.pid!, { host: "elsewhere.example" }), self)).toBe("unknown");
    expect(livenessOf(ownerFor(self, child.pid!, { pidNamespace: "1" }), self)).toBe("unknown");
    expect(livenessOf("not-an-owner-id", self)).toBe("unknown");
  });

  it("this very engine is self; another engine in this process is alive", () => {
    expect(livenessOf(formatOwner(self), self)).toBe("self");
    expect(livenessOf(formatOwner({ ...self, nonce: "000000" }), self)).toBe("alive");
  });

  it("when the probe cannot read a start time it does not declare the holder dead", () => {
    const owner = formatOwner({ ...self, pid: 4242, startTicks: "", nonce: "n1" });
    expect(livenessOf(owner, self, () => "")).toBe("alive");
    expect(livenessOf(owner, self, () => null)).toBe("dead");
  });
});
