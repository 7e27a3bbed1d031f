import { spawnSync } from "node:child_process";
import { resolve } from "node:path";

/** Loads better-sqlite3 and unix-dgram under the given Node and says why not (docs/design.md §8). */
export const CHECK_NATIVE_MODULES = resolve(import.meta.dirname, "../../scripts/check-native-modules.mjs");

export interface NativeCheck {
  status: number | null;
  stdout: string;
  stderr: string;
}

export function checkNativeModules(node = process.execPath): NativeCheck {
  const r = spawnSync(node, [CHECK_NATIVE_MODULES], { encoding: "utf8", timeout: 30_000 });
  return { status: r.status, stdout: r.stdout, stderr: r.stderr };
}

/**
 * vitest global setup: when a native module was built for another Node, stop before the first
 * test file with the check's explanation, instead of failing hundreds of tests on a dlopen error.
 */
export default function setup(): void {
  const r = checkNativeModules();
  if (r.status !== 0) throw new Error(r.stderr.trim() || `${CHECK_NATIVE_MODULES} exited with ${r.status}`);
}
