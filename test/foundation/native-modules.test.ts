import { expect, it } from "vitest";
import { checkNativeModules } from "../support/native-modules.js";

// The suite's daemons run as `process.execPath dist/src/main.js`: the Node this test runs on is
// the one the native modules must have been built for (docs/design.md §8).
it("better-sqlite3, unix-dgram and the project's peercred addon load under the Node that runs the suite", () => {
  const r = checkNativeModules();
  expect(r.stderr).toBe("");
  expect(r.status).toBe(0);
  expect(r.stdout).toContain(`Node ${process.version} (NODE_MODULE_VERSION ${process.versions.modules}, ${process.execPath})`);
  expect(r.stdout).toMatch(/better-sqlite3 \d+\.\d+\.\d+ \(SQLite 3\.\d+\.\d+\), unix-dgram \d+\.\d+\.\d+, peercred \(native\/\) \(SO_PEERCRED, N-API\)$/m);
});
