import { spawn } from "node:child_process";
import { join } from "node:path";

const FIXTURE = join(import.meta.dirname, "hold-write-lock.mjs");

export interface HeldWriteLock {
  /** Resolves once the other process has rolled back and exited. */
  readonly released: Promise<void>;
  /** Whether the lock is still held. */
  held(): boolean;
}

/** Has a child process take the database's write lock; resolves once it holds it, for `holdMs`. */
export async function holdWriteLock(dbPath: string, holdMs: number): Promise<HeldWriteLock> {
  const child = spawn(process.execPath, [FIXTURE, dbPath, String(holdMs)], { stdio: ["ignore", "pipe", "pipe"] });
  let out = "";
  let err = "";
  let state: "starting" | "locked" | "released" = "starting";
  child.stderr.on("data", (d: Buffer) => (err += d.toString()));
  const released = new Promise<void>((resolve, reject) => {
    child.on("exit", (code) => {
      state = "released";
      if (code === 0) resolve();
      else reject(new Error(`the write-lock holder exited with ${code}: ${err}`));
    });
  });
  await new Promise<void>((resolve, reject) => {
    child.stdout.on("data", (d: Buffer) => {
      out += d.toString();
      if (state === "starting" && out.includes("locked\n")) {
        state = "locked";
        resolve();
      }
    });
    released.then(() => reject(new Error(`the write-lock holder exited before locking: ${err}`)), reject);
  });
  return { released, held: () => state === "locked" };
}
