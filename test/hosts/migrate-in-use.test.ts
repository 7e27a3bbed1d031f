/**
 * Issue 18, row 7: `tokenbroker store migrate` while a daemon still serves
 * the SQLite file. Before the fix it copied and exited 0 — and a refresh the daemon
 * commits afterwards rotates a token the copy still holds, so the fleet
 * starts from a spent refresh token. It must refuse (exit 4, "try again
 * later"), name what holds the file (the daemon's pid), and copy nothing;
 * once the daemon has stopped, the same command migrates.
 */
import { writeFileSync } from "node:fs";
import { join } from "node:path";
import pg from "pg";
import { afterEach, describe, expect, it } from "vitest";
import { describeOutcome } from "../faults/support/broker-client.js";
import { FaultRig, expiredSeed } from "../faults/support/rig.js";
import { runCli } from "../support/cli.js";
import { usePostgres } from "../support/postgres.js";
import { skipReason } from "./support/hosts.js";

const server = await usePostgres();

let rig: FaultRig | undefined;
afterEach(async () => {
  await rig?.close();
  rig = undefined;
});

/** Links in the target database; 0 when the schema is not there. */
async function linksIn(url: string): Promise<number> {
  const c = new pg.Client({ connectionString: url });
  await c.connect();
  try {
    const { rows } = await c.query<{ t: string | null }>("SELECT to_regclass('links')::text AS t");
    if (rows[0]?.t === null || rows[0]?.t === undefined) return 0;
    const n = await c.query<{ n: number }>("SELECT count(*)::int AS n FROM links");
    return n.rows[0]?.n ?? 0;
  } finally {
    await c.end();
  }
}

describe.skipIf(typeof server === "string")(`store migrate while a daemon serves the SQLite file (issue 18 row 7)${skipReason(server)}`, () => {
  it("refuses with exit 4, names the daemon's pid, copies nothing; migrates once the daemon has stopped", async () => {
    if (typeof server === "string") return;
    rig = await FaultRig.start({ expiresInSec: 120 });
    const { fake } = rig;
    const d = await rig.daemon();
    await d.client.importLink("u", expiredSeed(fake));
    const served = await d.client.obtain("u", { minValidMs: 0 });
    expect(served.ok, describeOutcome(served)).toBe(true);

    const url = await server.freshDatabase();
    const urlFile = join(rig.dir, "target-url");
    writeFileSync(urlFile, `${url}\n`, { mode: 0o600 });
    const args = ["store", "migrate", "--from", `sqlite:${join(rig.dir, "tb.db")}`, "--to", `postgres:${urlFile}`, "--keys-file", join(rig.dir, "keys")];

    const refused = await runCli(args, { timeoutMs: 20_000 });
    const what = `exit ${refused.code}\nstdout: ${refused.stdout}\nstderr: ${refused.stderr}`;
    // Exit 4 (EXIT_RETRY): try again once the daemon has exited.
    expect(refused.code, what).toBe(4);
    expect(refused.stderr, what).toMatch(/in use/);
    expect(refused.stderr, what).toContain(`pid ${d.serving.child.pid}`);
    expect(await linksIn(url), what).toBe(0);

    await d.serving.stop();
    const migrated = await runCli(args, { timeoutMs: 20_000 });
    expect(migrated.code, `exit ${migrated.code}\nstdout: ${migrated.stdout}\nstderr: ${migrated.stderr}`).toBe(0);
    expect(await linksIn(url)).toBe(1);
    expect(fake.replays).toBe(0);
  });
});
