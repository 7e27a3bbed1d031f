import { createServer, type Server } from "node:net";
import { join } from "node:path";
import { writeFileSync } from "node:fs";
import { randomBytes } from "node:crypto";
import { afterEach, beforeAll, describe, expect, it } from "vitest";
import { stringify } from "yaml";
import { assertBuilt, CLI, writeKeys } from "../support/cli.js";
import { tempDir } from "../support/temp-dir.js";
import { logAt, spawnLogged, startNotifyReceiver, waitFor, type LoggedProcess, type NotifyReceiver } from "./support.js";

// sd_notify against the built CLI as a real process: a python3 child plays
// the service manager's notification socket.

const cleanup: Array<() => Promise<void> | void> = [];
afterEach(async () => {
  for (const f of cleanup.splice(0).reverse()) await f();
});

beforeAll(() => {
  assertBuilt();
});

function writeConfig(dir: string, extra: Record<string, unknown> = {}): string {
  writeKeys(dir);
  const path = join(dir, "config.yaml");
  writeFileSync(
    path,
    stringify({
      listen: { grpc: [`unix://${dir}/tb.sock`, "tcp://127.0.0.1:0"], http: "tcp://127.0.0.1:0" },
      store: { sqlite: { path: `${dir}/tb.db` } },
      encryption: { keys_file: `${dir}/keys` },
      shutdown_grace: "5s",
      ...extra,
    }),
  );
  return path;
}

/** Environment for the daemon: ours, minus anything a real service manager may have given the test runner. */
function daemonEnv(extra: Record<string, string>): NodeJS.ProcessEnv {
  const env: NodeJS.ProcessEnv = { ...process.env };
  for (const k of ["NOTIFY_SOCKET", "WATCHDOG_USEC", "WATCHDOG_PID", "LISTEN_PID", "LISTEN_FDS", "LISTEN_FDNAMES"]) delete env[k];
  return { ...env, ...extra };
}

async function setup(socketName: (dir: string) => string): Promise<{ dir: string; logPath: string; notifySocket: string; receiver: NotifyReceiver }> {
  const dir = tempDir("tb-sdnotify-");
  const logPath = join(dir, "daemon.log");
  writeFileSync(logPath, "");
  const notifySocket = socketName(dir);
  const receiver = await startNotifyReceiver(notifySocket, logPath);
  cleanup.push(() => receiver.close());
  return { dir, logPath, notifySocket, receiver };
}

function track(p: LoggedProcess): LoggedProcess {
  cleanup.push(async () => {
    if (p.child.exitCode === null && p.child.signalCode === null) await p.stop("SIGKILL");
  });
  return p;
}

const servingLine = (log: string): boolean => log.includes('"msg":"serving"');

describe("sd_notify", () => {
  it("sends READY=1 only once serving, pings the watchdog from the main pid, and STOPPING=1 before draining", async () => {
    const { dir, logPath, notifySocket, receiver } = await setup((d) => join(d, "notify.sock"));
    const config = writeConfig(dir);
    // WATCHDOG_PID must name the daemon itself: exec keeps the shell's pid.
    const daemon = track(
      spawnLogged("sh", ["-c", 'WATCHDOG_PID=$$ exec "$@"', "sh", process.execPath, CLI, "serve", "--config", config], {
        cwd: dir,
        logPath,
        env: daemonEnv({ NOTIFY_SOCKET: notifySocket, WATCHDOG_USEC: "200000" }),
      }),
    );

    const ready = await waitFor("READY=1", () => receiver.with("READY=1")[0], 30_000, () => daemon.log());
    // The "serving" line was on disk before READY=1 was sent: the store was
    // open, the keys verified and every listener bound.
    expect(servingLine(logAt(daemon.log(), ready))).toBe(true);
    expect(ready.pid).toBe(daemon.pid);
    expect(ready.assignments.find((a) => a.startsWith("STATUS="))).toMatch(/^STATUS=serving on unix:\/\/.*tb\.sock, tcp:\/\/127\.0\.0\.1:\d+, tcp:\/\/127\.0\.0\.1:\d+$/);

    // WATCHDOG=1 every WATCHDOG_USEC/2 = 100 ms.
    await waitFor("ten watchdog pings after READY=1", () => receiver.with("WATCHDOG=1").filter((m) => m.t > ready.t).length >= 10 || undefined, 10_000);
    const pings = receiver.with("WATCHDOG=1");
    expect(pings.every((m) => m.pid === daemon.pid)).toBe(true);
    // The mean interval, first to last (robust to the receiver reading a few at once).
    const after = pings.filter((m) => m.t > ready.t);
    const meanMs = ((after.at(-1)!.t - after[0]!.t) * 1000) / (after.length - 1);
    expect(meanMs).toBeGreaterThan(70);
    expect(meanMs).toBeLessThan(200);

    const { code } = await daemon.stop("SIGTERM");
    expect(code).toBe(0);
    const log = daemon.log();
    const stopping = receiver.with("STOPPING=1");
    expect(stopping).toHaveLength(1);
    expect(stopping[0]!.pid).toBe(daemon.pid);
    // Sent on the signal, before the drain began ("shutting down" comes after).
    expect(logAt(log, stopping[0]!)).toContain('"msg":"signal received"');
    const order = receiver.messages().map((m) => m.assignments.find((a) => !a.startsWith("STATUS=") && a !== "WATCHDOG=1") ?? "");
    expect(order.filter((a) => a !== "")).toEqual(["READY=1", "STOPPING=1"]);
    expect(receiver.with("READY=1")).toHaveLength(1);
    // Nothing before READY=1 claimed readiness; STATUS tells the story.
    const statuses = receiver.messages().flatMap((m) => m.assignments.filter((a) => a.startsWith("STATUS=")));
    expect(statuses[0]).toBe("STATUS=starting");
    expect(statuses.at(-1)).toBe("STATUS=stopped");
  });

  it("does not ping when WATCHDOG_PID names another process, nor without WATCHDOG_USEC", async () => {
    for (const env of [{ WATCHDOG_USEC: "200000", WATCHDOG_PID: "1" }, {}]) {
      const { dir, logPath, notifySocket, receiver } = await setup((d) => join(d, "notify.sock"));
      const daemon = track(
        spawnLogged(process.execPath, [CLI, "serve", "--config", writeConfig(dir)], { cwd: dir, logPath, env: daemonEnv({ NOTIFY_SOCKET: notifySocket, ...env }) }),
      );
      await waitFor("READY=1", () => receiver.with("READY=1")[0], 30_000, () => daemon.log());
      await new Promise((r) => setTimeout(r, 600));
      expect(receiver.with("WATCHDOG=1")).toEqual([]);
      expect((await daemon.stop()).code).toBe(0);
      expect(receiver.with("STOPPING=1")).toHaveLength(1);
    }
  });

  it("supports an abstract NOTIFY_SOCKET (@name)", async () => {
    const { dir, logPath, notifySocket, receiver } = await setup(() => `@tokenbroker-test-${randomBytes(6).toString("hex")}`);
    const daemon = track(
      spawnLogged(process.execPath, [CLI, "serve", "--config", writeConfig(dir)], { cwd: dir, logPath, env: daemonEnv({ NOTIFY_SOCKET: notifySocket }) }),
    );
    const ready = await waitFor("READY=1", () => receiver.with("READY=1")[0], 30_000, () => daemon.log());
    expect(servingLine(logAt(daemon.log(), ready))).toBe(true);
    expect((await daemon.stop()).code).toBe(0);
    await waitFor("STOPPING=1", () => receiver.with("STOPPING=1")[0], 10_000);
    expect(receiver.with("READY=1")).toHaveLength(1);
  });

  it("never sends READY=1 when a listener cannot be bound (after the store and keys were fine)", async () => {
    const { dir, logPath, notifySocket, receiver } = await setup((d) => join(d, "notify.sock"));
    const taken: Server = createServer();
    await new Promise<void>((r) => taken.listen(0, "127.0.0.1", () => r()));
    cleanup.push(() => new Promise<void>((r) => taken.close(() => r())));
    const port = (taken.address() as { port: number }).port;
    const config = writeConfig(dir, { listen: { grpc: [`unix://${dir}/tb.sock`, `tcp://127.0.0.1:${port}`] } });
    const daemon = track(spawnLogged(process.execPath, [CLI, "serve", "--config", config], { cwd: dir, logPath, env: daemonEnv({ NOTIFY_SOCKET: notifySocket }) }));
    expect(await daemon.exited).toBe(1);
    expect(daemon.log()).toContain('"msg":"keyring verified"');
    expect(daemon.log()).toMatch(/cannot listen on 127\.0\.0\.1:\d+/);
    await waitFor("the failure STATUS", () => receiver.messages().find((m) => m.assignments.some((a) => a.startsWith("STATUS=failed to start: "))), 5_000);
    expect(receiver.with("READY=1")).toEqual([]);
  });
});
