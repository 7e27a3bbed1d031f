/**
 * The helper's start (issue 21 item 3, "Fast"), in the timed project (one
 * file at a time, after the other suites): `tokenbroker git-credential get`
 * against a bare `node -e 0` measured in the same run, interleaved round by
 * round (bench/scenarios/git-credential.ts, which `npm run bench` runs too).
 *
 * The bench's target is a median ≤ 2 × bare Node. Here the bound is 2.5 ×:
 * the same code path, with headroom for a loaded CI machine, where the
 * helper's own I/O (a socket connection, two RPCs) stretches more than a
 * start that does nothing. It still fails for a helper that loads the CLI's
 * wire libraries (today's `tokenbroker token` measures well over 3 ×, which
 * the second assertion shows in the same run).
 */
import { afterAll, beforeAll, expect, it } from "vitest";
import { measureStarts, helperStartCommands } from "../../bench/scenarios/git-credential.js";
import { CLI, startServe, type ServingDaemon } from "../support/cli.js";
import { useFakeProvider } from "../support/scoped-fakes.js";
import { tempDir } from "../support/temp-dir.js";
import { helperDaemonConfig, importLink } from "./support/helper-env.js";

const ROUNDS = 21;
const BOUND = 2.5;

let daemon: ServingDaemon;

beforeAll(async () => {
  const dir = tempDir("tb-gitspeed-");
  const fake = await useFakeProvider({ expiresInSec: 3600 });
  daemon = await startServe(helperDaemonConfig(dir, fake, "http://127.0.0.1:1"), dir);
  await importLink(daemon.unixTarget!, "alice", "gh", fake.issue({ accessTtlSec: 24 * 3600 }));
});

afterAll(async () => {
  await daemon?.stop();
});

it(`git-credential get: median ≤ ${BOUND} × a bare node -e 0 start, same run (bench target 2 ×)`, { timeout: 300_000 }, async () => {
  const times = await measureStarts(helperStartCommands(CLI, daemon.unixTarget!, "alice", "gh", "github.example"), ROUNDS);
  const m = times.medians;
  const bare = m["node -e 0"]!;
  const helper = m["git-credential get"]!;
  const token = m["tokenbroker token"]!;
  const summary = `node -e 0 ${bare.toFixed(1)} ms, git-credential get ${helper.toFixed(1)} ms (× ${(helper / bare).toFixed(2)}), tokenbroker token ${token.toFixed(1)} ms (× ${(token / bare).toFixed(2)})`;
  console.log(`helper start, medians of ${ROUNDS}: ${summary}`);
  expect(helper / bare, summary).toBeLessThanOrEqual(BOUND);
  // The measurement can tell a light helper from the full CLI.
  expect(helper, summary).toBeLessThan(token);
});
