import { randomBytes } from "node:crypto";
import { describe, expect, it } from "vitest";
import { Keyring } from "../../src/crypto/index.js";
import { runCli, writeKeys } from "../support/cli.js";
import { useFakeProvider } from "../support/scoped-fakes.js";
import { tempDir } from "../support/temp-dir.js";
import { importLinks, startCliDaemon } from "./cli-daemon.js";
import { runInTty } from "./tty.js";

const b64 = (k: Buffer): string => k.toString("base64");

describe("keys generate", () => {
  it("prints the key line on stdout and its key id on stderr", async () => {
    const r = await runCli(["keys", "generate"]);
    expect(r.code).toBe(0);
    const key = Buffer.from(r.stdout.trim(), "base64");
    expect(key).toHaveLength(32);
    expect(r.stderr).toBe(`key id ${new Keyring([key]).active.id}\n`);
  });
});

describe("keys rotate shows progress", () => {
  it("periodic lines when stderr is not a terminal, a bar on a terminal; the result on stdout", async () => {
    const dir = tempDir("tb-cli-rotate-");
    const fake = await useFakeProvider();
    const oldKey = randomBytes(32);
    writeKeys(dir, [b64(oldKey)]);
    const first = await startCliDaemon(dir, fake);
    await importLinks(first.unixTarget!, Array.from({ length: 1500 }, (_, i) => ({ userId: `u${i}`, ...fake.issue() })));
    await first.stop();

    const newKey = randomBytes(32);
    const newId = new Keyring([newKey]).active.id;
    writeKeys(dir, [b64(newKey), b64(oldKey)]);
    const daemon = await startCliDaemon(dir, fake);
    try {
      // 1,500 links: an access and a refresh token each.
      const r = await runCli(["keys", "rotate", "--batch", "10", "--addr", daemon.unixTarget!]);
      expect(r.code, r.stderr).toBe(0);
      expect(r.stdout).toBe("re-sealed 1500 rows; 0 values remain under other keys\n");
      const lines = r.stderr.trimEnd().split("\n");
      expect(r.stderr).not.toContain("\r");
      for (const line of lines) expect(line).toMatch(new RegExp(`^re-sealing: \\d+ of 3000 values under the active key ${newId} \\(\\d+%\\)$`));
      expect(lines.length).toBeGreaterThanOrEqual(2);
      expect(lines.at(-1)).toBe(`re-sealing: 3000 of 3000 values under the active key ${newId} (100%)`);
      // --json: the result as one object on stdout (nothing left to re-seal now).
      const json = await runCli(["keys", "rotate", "--json", "--addr", daemon.unixTarget!]);
      expect(json.code, json.stderr).toBe(0);
      expect(JSON.parse(json.stdout)).toEqual({ reencrypted_rows: 0, remaining_values: 0 });

      // Again on a terminal (nothing left to do, so only the bar's start and end).
      writeKeys(dir, [b64(oldKey), b64(newKey)]);
      await daemon.stop();
      const third = await startCliDaemon(dir, fake);
      try {
        const tty = await runInTty(["keys", "rotate", "--addr", third.unixTarget!]);
        expect(tty.code, tty.screen).toBe(0);
        expect(tty.screen).toMatch(/\r\[#{30}\] 100% 3000\/3000 values under key \w+/);
        expect(tty.screen).not.toContain("re-sealing:");
        expect(tty.screen).toContain("re-sealed 1500 rows; 0 values remain under other keys");
      } finally {
        await third.stop();
      }
    } finally {
      await daemon.stop();
    }
  }, 120_000);
});
