import { fork } from "node:child_process";
import { dirname, join } from "node:path";
import { fileURLToPath } from "node:url";
import { atScopeEnd } from "../support/scope-cleanup.js";

const SCRIPT = join(dirname(fileURLToPath(import.meta.url)), "fixtures/sqlite-holder.mjs");

export interface SqliteHolder {
  pid: number;
  /** Ends the process and waits until it is gone. */
  stop(): Promise<void>;
}

/**
 * Another process that opened `dbPath`, wrote to it once (or only read,
 * for `"read"`) and keeps the connection; stopped when the caller's scope
 * ends.
 */
export async function holdOpen(dbPath: string, mode: "write" | "read" = "write"): Promise<SqliteHolder> {
  const child = fork(SCRIPT, [dbPath, mode], { stdio: ["ignore", "inherit", "inherit", "ipc"], execArgv: [] });
  const exited = new Promise<void>((resolve) => child.once("exit", () => resolve()));
  await new Promise<void>((resolve, reject) => {
    child.once("message", (m) => (m === "open" ? resolve() : reject(new Error(`holder said ${String(m)}`))));
    void exited.then(() => reject(new Error("the holder exited before it had the file open")));
  });
  const stop = async (): Promise<void> => {
    if (child.exitCode === null && child.signalCode === null) child.kill("SIGKILL");
    await exited;
  };
  atScopeEnd(stop);
  if (child.pid === undefined) throw new Error("the holder has no pid");
  return { pid: child.pid, stop };
}
