#!/usr/bin/env node
// Imports are dynamic: `git-credential` runs before every git operation and
// must not pay for the CLI's wire libraries, so it is dispatched before
// anything else is loaded, to the helper's own entry (cli/git-credential/bin.ts,
// which reads the same argv).
if (process.argv[2] === "git-credential") {
  await import("./cli/git-credential/bin.js");
} else {
  const [{ runCommandLine }, { flushOutput, ignoreClosedReaders, writeErr }] = await Promise.all([import("./cli/cli.js"), import("./cli/output.js")]);
  ignoreClosedReaders();
  runCommandLine(process.argv.slice(2)).then(
    async (code) => {
      // Everything written must reach the reader first (a pipe takes 64 KiB at a
      // time); then exit explicitly, since a drained daemon may leave idle
      // handles behind (keep-alive timers).
      await flushOutput();
      process.exit(code);
    },
    async (err: unknown) => {
      writeErr(`tokenbroker: ${err instanceof Error ? err.message : String(err)}\n`);
      await flushOutput();
      process.exit(1);
    },
  );
}
