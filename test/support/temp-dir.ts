import { mkdtempSync, rmSync } from "node:fs";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { atScopeEnd } from "./scope-cleanup.js";

/**
 * A fresh private directory under the OS temp dir, removed with everything in
 * it when the caller's scope ends (the running test, else the test file).
 */
export function tempDir(prefix = "tb-"): string {
  const dir = mkdtempSync(join(tmpdir(), prefix));
  // Retries: a daemon that has just exited may still be unlinking its socket.
  atScopeEnd(() => rmSync(dir, { recursive: true, force: true, maxRetries: 3 }));
  return dir;
}
