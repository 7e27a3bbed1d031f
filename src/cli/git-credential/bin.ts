#!/usr/bin/env node
// The `git-credential-tokenbroker` executable. git runs a credential.helper
// that is neither a path nor a `!` command as `git credential-<helper>`, so
// `credential.helper "tokenbroker git-credential"` runs
// `git-credential-tokenbroker git-credential get` and `credential.helper
// tokenbroker` runs `git-credential-tokenbroker get` (gitcredentials(7));
// both land here. `tokenbroker git-credential get` (main.ts) is the same
// helper. Only the helper's own modules are loaded.
import { flushOutput, ignoreClosedReaders, writeErr } from "../output.js";
import { gitCredentialMain } from "./run.js";

const args = process.argv.slice(2);
ignoreClosedReaders();
gitCredentialMain(args[0] === "git-credential" ? args.slice(1) : args).then(
  async (code) => {
    await flushOutput();
    process.exit(code);
  },
  async (err: unknown) => {
    writeErr(`tokenbroker git-credential: ${err instanceof Error ? err.message : String(err)}\n`);
    await flushOutput();
    process.exit(1);
  },
);
