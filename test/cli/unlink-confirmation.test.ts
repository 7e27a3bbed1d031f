import { afterAll, beforeAll, describe, expect, it } from "vitest";
import { runCli, type ServingDaemon } from "../support/cli.js";
import type { FakeProvider } from "../support/fake-provider.js";
import { useFakeProvider } from "../support/scoped-fakes.js";
import { tempDir } from "../support/temp-dir.js";
import { importLinks, startCliDaemon } from "./cli-daemon.js";
import { runInTty } from "./tty.js";

/** Issue 14: `unlink` asks on a terminal unless --yes; a script (stdin not a TTY) is not asked. */
describe("unlink confirmation", () => {
  let fake: FakeProvider;
  let daemon: ServingDaemon;
  let addr: string;
  const linked = async (user: string): Promise<boolean> => {
    const r = await runCli(["links", "--json", "--user", user, "--addr", addr]);
    return (JSON.parse(r.stdout) as unknown[]).length === 1;
  };

  beforeAll(async () => {
    const dir = tempDir("tb-cli-unlink-");
    fake = await useFakeProvider();
    daemon = await startCliDaemon(dir, fake);
    addr = daemon.unixTarget!;
    await importLinks(addr, ["kept", "asked", "forced", "scripted"].map((userId) => ({ userId, ...fake.issue() })));
  });
  afterAll(async () => {
    await daemon?.stop();
  });

  const PROMPT = /unlink \S+ from fake and revoke its tokens at the provider\? \[y\/N\] /;

  it("on a terminal, anything but yes keeps the link (exit 1)", async () => {
    const r = await runInTty(["unlink", "--user", "kept", "--provider", "fake", "--addr", addr], { prompt: PROMPT, answer: "n\n" });
    expect(r.code, r.screen).toBe(1);
    expect(r.screen).toContain("not unlinked");
    expect(await linked("kept")).toBe(true);
  });

  it("on a terminal, yes unlinks", async () => {
    const r = await runInTty(["unlink", "--user", "asked", "--provider", "fake", "--addr", addr], { prompt: PROMPT, answer: "y\n" });
    expect(r.code, r.screen).toBe(0);
    expect(r.screen).toContain("unlinked asked from fake");
    expect(await linked("asked")).toBe(false);
  });

  it("--yes on a terminal does not ask", async () => {
    const r = await runInTty(["unlink", "--user", "forced", "--provider", "fake", "--addr", addr, "--yes"]);
    expect(r.code, r.screen).toBe(0);
    expect(r.screen).not.toMatch(PROMPT);
    expect(await linked("forced")).toBe(false);
  });

  it("stdin not a terminal: no question", async () => {
    const r = await runCli(["unlink", "--user", "scripted", "--provider", "fake", "--addr", addr]);
    expect(r.code, r.stderr).toBe(0);
    expect(r.stderr).not.toMatch(PROMPT);
    expect(await linked("scripted")).toBe(false);
  });
});
