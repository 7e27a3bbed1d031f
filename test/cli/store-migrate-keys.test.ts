/**
 * `store migrate` with a wrong keys file on an empty database (issue 23
 * item 9): the keys are checked before the target is opened, so the
 * database is left exactly as it was — no schema created — and the message
 * that says nothing was written is true.
 */
import { readFileSync, writeFileSync } from "node:fs";
import { join } from "node:path";
import pg from "pg";
import { describe, expect, it } from "vitest";
import { AesSealer, Keyring, verifyKeyring } from "../../src/crypto/index.js";
import { openSqliteStore } from "../../src/store/sqlite/index.js";
import { runCli, writeKeys } from "../support/cli.js";
import { usePostgres } from "../support/postgres.js";
import { tempDir } from "../support/temp-dir.js";

const server = await usePostgres();

async function tables(url: string): Promise<string[]> {
  const c = new pg.Client({ connectionString: url });
  await c.connect();
  try {
    return (await c.query<{ t: string }>("SELECT table_name AS t FROM information_schema.tables WHERE table_schema = 'public' ORDER BY 1")).rows.map((r) => r.t);
  } finally {
    await c.end();
  }
}

describe.skipIf(typeof server === "string")(`store migrate with the wrong keys file${typeof server === "string" ? ` (${server})` : ""}`, () => {
  it("exits 1 naming the key, and leaves an empty database without even the schema", async () => {
    if (typeof server === "string") return;
    const dir = tempDir("tb-migrate-keys-");
    const keysFile = writeKeys(dir);
    const keyring = new Keyring([Buffer.from(readFileSync(keysFile, "utf8").trim(), "base64")]);
    const sqlitePath = join(dir, "tb.db");
    const store = openSqliteStore({ path: sqlitePath, sealer: new AesSealer(keyring) });
    await verifyKeyring(keyring, store.keyring, Date.now());
    await store.links.put({ providerId: "p", userId: "alice" }, { accessToken: "at-secret-1", tokenType: "bearer", refreshToken: "rt-secret-1", expiresAt: Date.now() + 60_000, extra: {} }, Date.now());
    await store.close();
    const wrongDir = tempDir("tb-migrate-wrong-");
    const wrong = writeKeys(wrongDir);
    const url = await server.freshDatabase();
    const urlFile = join(dir, "pg-url");
    writeFileSync(urlFile, `${url}\n`, { mode: 0o600 });

    const r = await runCli(["store", "migrate", "--from", `sqlite:${sqlitePath}`, "--to", `postgres:${urlFile}`, "--keys-file", wrong]);
    expect(r.code, r.stderr).toBe(1);
    expect(r.stderr).toContain(`its values are sealed under key(s) ${keyring.keyIds[0]}; the keyring has `);
    expect(r.stderr).toContain("nothing was written");
    expect(r.stderr).not.toContain("schema migrations applied");
    expect(r.stdout + r.stderr).not.toMatch(/at-secret-1|rt-secret-1/);
    expect(await tables(url)).toEqual([]);

    // The right keys file then copies, creating the schema.
    const ok = await runCli(["store", "migrate", "--from", `sqlite:${sqlitePath}`, "--to", `postgres:${urlFile}`, "--keys-file", keysFile]);
    expect(ok.code, ok.stderr).toBe(0);
    expect(await tables(url)).toContain("links");
  });
});
