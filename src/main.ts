#!/usr/bin/env node
import { runCommandLine } from "./cli/cli.js";
import { flushOutput, ignoreClosedReaders, writeErr } from "./cli/output.js";

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
