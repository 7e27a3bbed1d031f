import { spawn } from "node:child_process";
import { afterAll, beforeAll, describe, expect, it } from "vitest";
import { CLI, assertBuilt, type ServingDaemon } from "../support/cli.js";
import type { FakeProvider } from "../support/fake-provider.js";
import { useFakeProvider } from "../support/scoped-fakes.js";
import { tempDir } from "../support/temp-dir.js";
import { importLinks, startCliDaemon } from "./cli-daemon.js";

/**
 * Issue 14: `tokenbroker links --json | jq` lost everything past the first
 * 64 KiB when the reader was slower than the CLI, with exit 0. Here the
 * reader sleeps before it reads anything, so the CLI's whole output waits in
 * its queue when it is done; all of it must still arrive.
 */

/** Runs the CLI into a shell pipe whose reader starts reading only after `delaySec`; returns what the reader got and the CLI's exit code. */
function throughSlowPipe(args: string[], delaySec: number): Promise<{ out: string; cliCode: number }> {
  assertBuilt();
  const quoted = [process.execPath, CLI, ...args].map((a) => `'${a.replace(/'/g, "'\\''")}'`).join(" ");
  return new Promise((resolve, reject) => {
    // PIPESTATUS is bash's; the reader's output is the test's stdout, the CLI's code the last line of stderr.
    const child = spawn("bash", ["-c", `${quoted} | { sleep ${delaySec}; cat; }; echo "cli=\${PIPESTATUS[0]}" >&2`], { stdio: ["ignore", "pipe", "pipe"] });
    const out: Buffer[] = [];
    let err = "";
    child.stdout.on("data", (d: Buffer) => out.push(d));
    child.stderr.on("data", (d: Buffer) => (err += d.toString()));
    child.on("error", reject);
    child.on("exit", () => {
      const m = /cli=(\d+)\s*$/.exec(err);
      if (m === null) return reject(new Error(`no exit code from the pipe:\n${err}`));
      resolve({ out: Buffer.concat(out).toString(), cliCode: Number(m[1]) });
    });
  });
}

describe("output through a slow pipe", () => {
  let fake: FakeProvider;
  let daemon: ServingDaemon;
  const N = 5000;

  beforeAll(async () => {
    const dir = tempDir("tb-cli-pipe-");
    fake = await useFakeProvider({ expiresInSec: 3600 });
    daemon = await startCliDaemon(dir, fake);
    await importLinks(
      daemon.unixTarget!,
      Array.from({ length: N }, (_, i) => ({ userId: `user-${String(i).padStart(5, "0")}-with-a-longer-name-for-bytes`, ...fake.issue({ accessTtlSec: 3600 }) })),
    );
  }, 120_000);
  afterAll(async () => {
    await daemon?.stop();
  });

  it(`links --json with ${N} links parses completely`, async () => {
    const { out, cliCode } = await throughSlowPipe(["links", "--json", "--addr", daemon.unixTarget!], 2);
    expect(cliCode).toBe(0);
    expect(out.length).toBeGreaterThan(4 * 65_536); // far more than a pipe holds
    const links = JSON.parse(out) as Array<{ user_id: string }>;
    expect(links).toHaveLength(N);
    expect(new Set(links.map((l) => l.user_id)).size).toBe(N);
  }, 60_000);

  it(`the links table with ${N} links arrives whole`, async () => {
    const { out, cliCode } = await throughSlowPipe(["links", "--addr", daemon.unixTarget!], 2);
    expect(cliCode).toBe(0);
    const lines = out.trimEnd().split("\n");
    expect(lines).toHaveLength(N + 1);
    expect(lines.at(-1)).toMatch(/^fake\tuser-\d{5}-with-a-longer-name-for-bytes\t\S+\tyes\t-\t-$/);
  }, 60_000);

  it("token and token --json are complete through a pipe", async () => {
    const plain = await throughSlowPipe(["token", "--user", "user-04999-with-a-longer-name-for-bytes", "--provider", "fake", "--addr", daemon.unixTarget!], 1);
    expect(plain.cliCode).toBe(0);
    expect(plain.out).toMatch(/^\S+\n$/);
    expect(fake.isValid(plain.out.trim())).toBe(true);
    const json = await throughSlowPipe(["token", "--user", "user-00000-with-a-longer-name-for-bytes", "--provider", "fake", "--addr", daemon.unixTarget!, "--json"], 1);
    expect(json.cliCode).toBe(0);
    const parsed = JSON.parse(json.out) as { access_token: string; token_type: string };
    expect(fake.isValid(parsed.access_token)).toBe(true);
  }, 60_000);
});
