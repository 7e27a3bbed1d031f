import { execFileSync } from "node:child_process";
import { closeSync, mkdirSync, openSync, rmSync, writeSync } from "node:fs";
import { join } from "node:path";
import Database from "better-sqlite3";
import { describe, expect, it } from "vitest";
import { openSqliteStore } from "../../src/store/sqlite/index.js";
import { StoreUnavailableError } from "../../src/store/store-errors.js";
import { tempDir } from "../support/temp-dir.js";
import { FakeSealer } from "./fake-sealer.js";
import { KEY, T0, tokens } from "./helpers.js";

/** A 2 MiB tmpfs for `body`, unmounted after it; or why there is none (not root, mount refused). */
async function withSmallTmpfs(body: (dir: string) => Promise<void>): Promise<string | undefined> {
  if (process.getuid?.() !== 0) return "mounting a tmpfs needs root";
  const dir = join(tempDir("tb-store-full-"), "mnt");
  mkdirSync(dir);
  try {
    execFileSync("mount", ["-t", "tmpfs", "-o", "size=2m", "tmpfs", dir], { stdio: "pipe" });
  } catch (err) {
    return `mount -t tmpfs failed: ${String((err as { stderr?: Buffer }).stderr ?? err).trim()}`;
  }
  try {
    await body(dir);
  } finally {
    execFileSync("umount", [dir]);
  }
  return undefined;
}

/** Writes until the file system refuses: ENOSPC. */
function fill(path: string): void {
  const fd = openSync(path, "w");
  const chunk = Buffer.alloc(4096, 1);
  try {
    for (;;) writeSync(fd, chunk);
  } catch (err) {
    if ((err as NodeJS.ErrnoException).code !== "ENOSPC") throw err;
  } finally {
    closeSync(fd);
  }
}

/** The raw rows, through a connection of its own (closed at once, so the mount can go). */
function rawRows(path: string): unknown[] {
  const db = new Database(path, { readonly: true });
  try {
    return db.prepare("SELECT * FROM links").all();
  } finally {
    db.close();
  }
}

describe("a full disk", () => {
  it("commitRefresh rejects with StoreUnavailableError(SQLITE_FULL), changes nothing, and succeeds once space is freed", async (ctx) => {
    const skipped = await withSmallTmpfs(async (dir) => {
      const path = join(dir, "links.db");
      const store = openSqliteStore({ path, sealer: new FakeSealer() });
      try {
        await store.links.put(KEY, tokens(), T0);
        const before = rawRows(path);

        const filler = join(dir, "filler");
        fill(filler);
        // Big enough to need new WAL frames whatever slack the last page has.
        const big = { accessToken: "a".repeat(20_000), tokenType: "Bearer", refreshToken: "rt-2", expiresAt: T0 + 7_200_000 };
        const started = performance.now();
        const err: unknown = await store.links.commitRefresh(KEY, { version: 1, refreshToken: "rt-1" }, big, T0 + 1).catch((e: unknown) => e);
        expect(err).toBeInstanceOf(StoreUnavailableError);
        expect((err as StoreUnavailableError).code).toMatch(/^SQLITE_FULL/);
        expect((err as StoreUnavailableError).operation).toBe("links.commitRefresh");
        // Not retried inside the store: the caller decides.
        expect(performance.now() - started).toBeLessThan(500);

        // Reads still answer; nothing was written.
        expect(await store.links.get(KEY)).toMatchObject({ version: 1, refreshToken: "rt-1", accessToken: "at-1" });
        expect(rawRows(path)).toEqual(before);

        rmSync(filler);
        const rec = await store.links.commitRefresh(KEY, { version: 1, refreshToken: "rt-1" }, big, T0 + 2);
        expect(rec).toMatchObject({ version: 2, refreshToken: "rt-2", accessToken: big.accessToken });
        expect(rawRows(path)).toMatchObject([{ version: 2 }]);
      } finally {
        await store.close();
      }
    });
    if (skipped !== undefined) ctx.skip(skipped);
  });
});
