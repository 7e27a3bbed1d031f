import { fork, type ChildProcess } from "node:child_process";
import { resolve } from "node:path";

/**
 * Forks a compiled bench module (dist/bench/<module>.js) as its own Node
 * process with an IPC channel, and waits for its `{ ready: true }` message.
 * Children never inherit the parent's --cpu-prof and the like.
 */
export async function forkBenchModule(module: string, args: string[] = []): Promise<ChildProcess> {
  return (await forkReady(module, args)).child;
}

/** As forkBenchModule, also returning the ready message (a child on TCP port 0 names its port there). */
export async function forkReady(module: string, args: string[] = []): Promise<{ child: ChildProcess; ready: Record<string, unknown> }> {
  const child = fork(resolve(import.meta.dirname, module), args, { stdio: ["ignore", "inherit", "inherit", "ipc"], execArgv: [] });
  const ready = await new Promise<Record<string, unknown>>((resolveReady, reject) => {
    const timer = setTimeout(() => reject(new Error(`${module} did not become ready in 15 s`)), 15_000);
    const onMessage = (m: unknown): void => {
      if (typeof m === "object" && m !== null && (m as { ready?: unknown }).ready === true) {
        clearTimeout(timer);
        child.off("message", onMessage);
        resolveReady(m as Record<string, unknown>);
      }
    };
    child.on("message", onMessage);
    child.once("exit", (code) => {
      clearTimeout(timer);
      reject(new Error(`${module} exited with ${code} before it was ready`));
    });
  });
  return { child, ready };
}

/** Disconnects (the child exits when its IPC channel closes), then SIGKILLs after 5 s. */
export async function endChild(child: ChildProcess): Promise<void> {
  if (child.exitCode !== null || child.signalCode !== null) return;
  const exited = new Promise<void>((r) => child.once("exit", () => r()));
  if (child.connected) child.disconnect();
  else child.kill("SIGTERM");
  const timer = setTimeout(() => child.kill("SIGKILL"), 5_000);
  await exited;
  clearTimeout(timer);
}
