/**
 * docs/design.md §3 invariant 10: a lease holder that has exited but whose
 * parent has not collected it yet (a zombie: /proc/<pid> still exists, with
 * its start time unchanged) is dead. A supervisor that is slow to reap, or a
 * daemon run under a shell that never waits, leaves exactly this behind
 * after a crash; counting it as alive would block the key until the lease
 * runs out. The zombie here is real: `sh` backgrounds a process, execs into
 * one that never waits for it, and then the background process exits.
 */
import { spawn, type ChildProcess } from "node:child_process";
import { readFileSync } from "node:fs";
import { afterEach, describe, expect, it } from "vitest";
import { currentIdentity, formatOwner, livenessOf, probeProcess } from "../../src/broker/lease-owner.js";
import { harness, key, until } from "./harness.js";

const parents: ChildProcess[] = [];
afterEach(() => {
  // Killing the parent lets init reap the zombie.
  for (const p of parents.splice(0)) p.kill("SIGKILL");
});

function statOf(pid: number): { state: string; startTicks: string } {
  const stat = readFileSync(`/proc/${pid}/stat`, "utf8");
  const fields = stat.slice(stat.lastIndexOf(")") + 2).split(" ");
  return { state: fields[0]!, startTicks: fields[19]! };
}

/** A real zombie process and its owner id as a lease holder on this host. */
async function zombieOwner(): Promise<{ pid: number; owner: string }> {
  // sh starts a child that exits once told to, then becomes `sleep`, which never waits for children.
  const parent = spawn("sh", ["-c", "exec 3<&0; read line <&3 & echo $!; exec sleep 60"], { stdio: ["pipe", "pipe", "ignore"] });
  parents.push(parent);
  const pid = await new Promise<number>((resolve) => parent.stdout!.once("data", (d: Buffer) => resolve(Number(d.toString().trim()))));
  // Only once sh is gone may the child exit: sh itself would reap it.
  await until(() => readFileSync(`/proc/${parent.pid}/comm`, "utf8") === "sleep\n", "sh to exec sleep", 5_000);
  parent.stdin!.write("exit\n");
  await until(() => statOf(pid).state === "Z", "the child to exit unreaped", 5_000);
  return { pid, owner: formatOwner({ ...currentIdentity(), pid, startTicks: statOf(pid).startTicks, nonce: "zomb00" }) };
}

describe("a lease holder that exited but was not reaped (zombie)", () => {
  it("is dead: no running process, though /proc still lists it with its start time", async () => {
    const { pid, owner } = await zombieOwner();
    expect(probeProcess(pid)).toBeNull();
    expect(livenessOf(owner, currentIdentity())).toBe("dead");
  });

  it("its lease is taken over at once, not waited out", async () => {
    const h = await harness();
    const k = key("zed");
    await h.seed(k, { accessTtlSec: 5 });
    const { owner } = await zombieOwner();
    const claim = await h.store.claimLease(k, owner, 60_000, null);
    expect(claim.claimed).toBe(true);

    const started = Date.now();
    const got = await h.engine.obtain(k, 60_000);
    expect(Date.now() - started).toBeLessThan(1000); // not the 60 s lease
    expect(h.fake.isValid(got.accessToken)).toBe(true);
    expect(h.fake.tokenRequests).toBe(1);
    expect(h.fake.replays).toBe(0);
  });
});
