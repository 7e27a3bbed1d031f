import { execFileSync } from "node:child_process";
import { closeSync, openSync, rmSync, rmdirSync, writeSync } from "node:fs";
import { join } from "node:path";
import { tempDir } from "../../support/temp-dir.js";

export interface Tmpfs {
  readonly dir: string;
  /** Writes a file until the filesystem is full; returns its path. */
  fill(): string;
  unmount(): void;
}

/** Mounts a tmpfs of `size` (mount's syntax, e.g. "4m") on a new temp dir, or says why it cannot. */
export function mountTmpfs(size: string): Tmpfs | { skip: string } {
  if (process.getuid?.() !== 0) return { skip: "mounting a tmpfs needs root; run as root to test a full disk" };
  const dir = tempDir("tb-tmpfs-");
  try {
    execFileSync("mount", ["-t", "tmpfs", "-o", `size=${size}`, "tmpfs", dir], { stdio: "pipe" });
  } catch (e) {
    rmdirSync(dir);
    return { skip: `mount -t tmpfs failed here (${String((e as { stderr?: Buffer }).stderr ?? e).trim()}); a full disk is not tested` };
  }
  return {
    dir,
    fill() {
      const path = join(dir, "filler");
      const fd = openSync(path, "w");
      try {
        // Big writes first, then small ones, until not even a byte fits.
        for (const size of [1 << 16, 1 << 12, 1]) {
          const chunk = Buffer.alloc(size, 0x66);
          for (;;) {
            try {
              if (writeSync(fd, chunk) < size) break;
            } catch (e) {
              if ((e as NodeJS.ErrnoException).code === "ENOSPC") break;
              throw e;
            }
          }
        }
      } finally {
        closeSync(fd);
      }
      return path;
    },
    unmount() {
      execFileSync("umount", [dir], { stdio: "pipe" });
      rmSync(dir, { recursive: true, force: true });
    },
  };
}
