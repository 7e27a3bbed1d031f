/**
 * The database password never reaches a log line or an error (docs/design.md
 * §4.5, §6): a daemon that serves from a URL with a password, and one that
 * cannot reach its database, are scanned for it.
 */
import { writeFileSync } from "node:fs";
import { join } from "node:path";
import { afterEach, describe, expect, it } from "vitest";
import { FaultRig } from "../faults/support/rig.js";
import { runCli } from "../support/cli.js";
import { usePostgres } from "../support/postgres.js";

const server = await usePostgres();
const PASSWORD = "pg-Pa55word-never-logged";

let rig: FaultRig | undefined;
afterEach(async () => {
  await rig?.close();
  rig = undefined;
});

function withPassword(url: string): string {
  const u = new URL(url);
  u.password = PASSWORD;
  return u.toString();
}

describe.skipIf(typeof server === "string")(`the PostgreSQL password${typeof server === "string" ? ` (${server})` : ""}`, () => {
  it("is in no line a serving daemon writes", async () => {
    if (typeof server === "string") return;
    rig = await FaultRig.start();
    const urlFile = join(rig.dir, "pg-url");
    // The test cluster trusts loopback, so any password is accepted: the point is where it shows.
    writeFileSync(urlFile, withPassword(await server.freshDatabase()), { mode: 0o600 });
    const d = await rig.daemon({ store: { postgres: { url_file: urlFile } } });
    await d.client.importLink("u", { accessToken: "at", refreshToken: "rt", expiresAt: Date.now() + 600_000 });
    expect(d.serving.output()).toContain("PostgreSQL store opened");
    expect(d.serving.output()).toContain(":redacted@");
    expect(d.serving.output()).not.toContain(PASSWORD);
  });

  it("is in no message of a daemon that cannot reach its database", async () => {
    if (typeof server === "string") return;
    rig = await FaultRig.start();
    const urlFile = join(rig.dir, "pg-url");
    // A loopback port nothing listens on.
    writeFileSync(urlFile, `postgres://tokenbroker:${PASSWORD}@127.0.0.1:1/tokenbroker`, { mode: 0o600 });
    const configPath = join(rig.dir, "config.yaml");
    writeFileSync(configPath, JSON.stringify(rig.config({ store: { postgres: { url_file: urlFile } } })));
    writeFileSync(join(rig.dir, "keys"), `${Buffer.alloc(32, 7).toString("base64")}\n`, { mode: 0o600 });
    const r = await runCli(["serve", "--config", configPath], { timeoutMs: 30_000 });
    expect(r.code).not.toBe(0);
    const all = `${r.stdout}\n${r.stderr}`;
    expect(all).toContain("cannot open the PostgreSQL store at postgres://tokenbroker:redacted@127.0.0.1:1/tokenbroker");
    expect(all).not.toContain(PASSWORD);
  });
});
