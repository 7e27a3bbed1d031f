import { fork } from "node:child_process";
import { dirname, join } from "node:path";
import { fileURLToPath } from "node:url";

const SCRIPT = join(dirname(fileURLToPath(import.meta.url)), "fixtures/lock-holder.mjs");

export interface HeldLock {
  /** performance.now() in this process when the child reported the lock taken. */
  lockedAt: number;
  /** Resolves with performance.now() when the child reports the lock released. */
  released: Promise<number>;
}

/** Another process takes SQLite's write lock on `dbPath` and keeps it for `holdMs`. */
export async function holdWriteLock(dbPath: string, holdMs: number): Promise<HeldLock> {
  const child = fork(SCRIPT, [dbPath, String(holdMs)], { stdio: ["ignore", "inherit", "inherit", "ipc"] });
  const exited = new Promise<void>((resolve) => child.once("exit", () => resolve()));
  const message = (want: string): Promise<number> =>
    new Promise((resolve, reject) => {
      child.on("message", (m) => {
        if (m === want) resolve(performance.now());
      });
      void exited.then(() => reject(new Error(`lock holder exited before "${want}"`)));
    });
  const locked = message("locked");
  const released = message("released");
  released.catch(() => undefined);
  return {
    lockedAt: await locked,
    released: released.then(async (at) => {
      await exited;
      return at;
    }),
  };
}
