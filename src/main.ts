#!/usr/bin/env node
// Imports are dynamic: `git-credential` runs before every git operation and
// must not pay for the CLI's wire libraries, so it is dispatched before
// anything else is loaded (cli/git-credential/run.ts).
const argv = process.argv.slice(2);

async function main(): Promise<number> {
  if (argv[0] === "git-credential") return (await import("./cli/git-credential/run.js")).gitCredentialMain(argv.slice(1));
  return (await import("./cli/cli.js")).runCommandLine(argv);
}

const { flushOutput, ignoreClosedReaders, writeErr } = await import("./cli/output.js");
ignoreClosedReaders();
main().then(
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
