/**
 * `tokenbroker store migrate` (issue 12 item 6, docs/design.md §4.6): a
 * SQLite store of 50,000 links, pending flows and its key sentinel is copied
 * into PostgreSQL by the built CLI with every value still sealed; daemons on
 * the database then serve the links. A second run, and a run with the wrong
 * keys file, change nothing; pg_dump of the database holds no token value.
 * A source in use — a daemon serving it, or any process holding it open —
 * is refused with exit 4 before the target is touched (issue 18 item 6).
 */
import { execFile } from "node:child_process";
import { randomBytes } from "node:crypto";
import { existsSync, readFileSync, readdirSync, writeFileSync } from "node:fs";
import { join } from "node:path";
import { promisify } from "node:util";
import pg from "pg";
import { afterAll, afterEach, beforeAll, describe, expect, it } from "vitest";
import { AesSealer, Keyring, verifyKeyring } from "../../src/crypto/index.js";
import { migrate as migrateSchema } from "../../src/store/postgres/index.js";
import { openSqliteStore } from "../../src/store/sqlite/index.js";
import { PROVIDER_ID, describeOutcome } from "../faults/support/broker-client.js";
import { runCli, writeKeys } from "../support/cli.js";
import { usePostgres } from "../support/postgres.js";
import { tempDir } from "../support/temp-dir.js";
import { holdOpen } from "../store/sqlite-holder.js";
import { Fleet } from "./support/fleet.js";

const server = await usePostgres();
const run = promisify(execFile);

const LINKS = 50_000;
const BATCH = 5000;
/** The database password: the test cluster trusts loopback, so it only shows where it would leak. */
const PASSWORD = "migrate-Pa55word-never-shown";
/** Seeded links: every third without an account, every other with granted scopes (one empty: none granted). */
function accountOf(i: number): { account?: string; grantedScopes?: string[] } {
  return {
    ...(i % 3 === 0 ? {} : { account: `acct-${i}` }),
    ...(i % 2 === 0 ? { grantedScopes: i % 4 === 0 ? ["repo", "read:org"] : [] } : {}),
  };
}

/** Every seeded token value starts with one of these (plus a per-run nonce). */
const nonce = randomBytes(4).toString("hex");
const at = (i: number): string => `mig-at-${nonce}-${i}`;
const rt = (i: number): string => `mig-rt-${nonce}-${i}`;
const VERIFIER = `mig-verifier-${nonce}`;
const DEVICE_CODE = `mig-device-code-${nonce}`;

function pgBin(name: string): string {
  const root = "/usr/lib/postgresql";
  const version = readdirSync(root).filter((v) => existsSync(join(root, v, "bin", name))).sort((a, b) => Number(b) - Number(a))[0];
  if (version === undefined) throw new Error(`no ${name} under ${root}`);
  return join(root, version, "bin", name);
}

/** Per table its row count and a digest of every row, to tell "changed nothing". */
async function snapshot(url: string): Promise<Record<string, string>> {
  const c = new pg.Client({ connectionString: url });
  await c.connect();
  try {
    const out: Record<string, string> = {};
    for (const t of ["links", "auth_flows", "device_flows", "key_sentinels", "caller_tokens"]) {
      const { rows } = await c.query<{ n: string; h: string | null }>(`SELECT count(*) AS n, md5(string_agg(x::text, '|' ORDER BY x::text)) AS h FROM ${t} x`);
      out[t] = `${rows[0]?.n} ${rows[0]?.h}`;
    }
    return out;
  } finally {
    await c.end();
  }
}

describe("store migrate: usage", () => {
  it("names a --from without sqlite: and exits 2; --help shows the options", async () => {
    const bad = await runCli(["store", "migrate", "--from", "/var/lib/tokenbroker/tokenbroker.db", "--to", "postgres:/etc/url", "--keys-file", "/etc/keys"]);
    expect(bad.code).toBe(2);
    expect(bad.stderr).toContain('--from "/var/lib/tokenbroker/tokenbroker.db": expected sqlite:PATH');
    const missing = await runCli(["store", "migrate", "--from", "sqlite:/x.db"]);
    expect(missing.code).toBe(2);
    expect(missing.stderr).toContain("--to and --keys-file are required");
    const help = await runCli(["store", "migrate", "--help"]);
    expect(help.code).toBe(0);
    for (const o of ["--from sqlite:PATH", "--to postgres:URL_FILE", "--keys-file FILE", "--overwrite"]) expect(help.stdout).toContain(o);
  });
});

describe.skipIf(typeof server === "string")(`store migrate from SQLite to PostgreSQL${typeof server === "string" ? ` (${server})` : ""}`, () => {
  let fleet: Fleet;
  let sqlitePath: string;
  let keysFile: string;
  let urlFile: string;
  let migrated: Awaited<ReturnType<typeof runCli>>;
  /** A link whose access token has expired and whose refresh token the fake provider knows. */
  let expired: { accessToken: string; refreshToken: string };
  const migrate = (extra: string[] = [], keys = keysFile) =>
    runCli(["store", "migrate", "--from", `sqlite:${sqlitePath}`, "--to", `postgres:${urlFile}`, "--keys-file", keys, ...extra], { timeoutMs: 120_000 });

  beforeAll(async () => {
    if (typeof server === "string") return;
    fleet = await Fleet.start(server, { expiresInSec: 3600 });
    const dir = tempDir("tb-migrate-");
    sqlitePath = join(dir, "tb.db");
    // The daemons read the rig's keys file: the same key sealed the SQLite store.
    keysFile = writeKeys(fleet.rig.dir);
    const keyring = new Keyring([Buffer.from(readFileSync(keysFile, "utf8").trim(), "base64")]);
    const url = new URL(fleet.url);
    url.password = PASSWORD;
    urlFile = join(dir, "pg-url");
    writeFileSync(urlFile, `${url.toString()}\n`, { mode: 0o600 });

    const seed = openSqliteStore({ path: sqlitePath, sealer: new AesSealer(keyring) });
    const now = Date.now();
    await verifyKeyring(keyring, seed.keyring, now);
    for (let b = 0; b < LINKS / BATCH; b++) {
      await seed.links.putMany(
        Array.from({ length: BATCH }, (_, j) => {
          const i = b * BATCH + j;
          return { key: { providerId: PROVIDER_ID, userId: `user-${i}` }, tokens: { accessToken: at(i), tokenType: "bearer", refreshToken: rt(i), expiresAt: now + 3_600_000, extra: { n: String(i) }, ...accountOf(i) } };
        }),
        now,
      );
    }
    const t = fleet.fake.issue();
    expired = { accessToken: t.accessToken, refreshToken: t.refreshToken };
    await seed.links.put({ providerId: PROVIDER_ID, userId: "expired" }, { accessToken: t.accessToken, tokenType: "bearer", refreshToken: t.refreshToken, expiresAt: now - 60_000, extra: {}, account: "octo-expired", grantedScopes: ["repo", "read:org"] }, now);
    await seed.flows.createAuthFlow({ stateHash: "state-hash-1", providerId: PROVIDER_ID, userId: "pending", codeVerifier: VERIFIER, redirectAfter: null, createdAt: now, expiresAt: now + 600_000 });
    await seed.flows.createDeviceFlow({ sessionHash: "session-hash-1", providerId: PROVIDER_ID, userId: "device", deviceCode: DEVICE_CODE, intervalMs: 5000, nextPollAt: now, createdAt: now, expiresAt: now + 600_000 });
    await seed.close();

    migrated = await migrate();
  }, 300_000);

  afterAll(async () => {
    await fleet?.close();
  });

  it("copies every row, verified, with progress and a summary that never show the password", () => {
    const all = `${migrated.stdout}\n${migrated.stderr}`;
    expect(migrated.code, all).toBe(0);
    expect(migrated.stderr).toContain(`links: 10000 of ${LINKS + 1} copied`);
    expect(migrated.stderr).toContain(`links: ${LINKS + 1} of ${LINKS + 1} copied`);
    expect(migrated.stdout).toMatch(new RegExp(`^migrated ${LINKS + 1} links, 1 auth_flows, 1 device_flows, 1 key_sentinels, 0 caller_tokens to postgres://postgres:redacted@127\\.0\\.0\\.1:\\d+/\\w+; counts verified, \\d+ sealed values opened on the target\\n$`));
    expect(all).not.toContain(PASSWORD);
  });

  it("leaves links the PostgreSQL daemons serve: stored tokens without a provider call, and the refresh token for an expired one", async () => {
    const [a, b] = await fleet.daemons(2);
    const before = fleet.fake.tokenRequests;
    for (let k = 0; k < 40; k++) {
      const i = Math.floor(Math.random() * LINKS);
      const o = await (k % 2 === 0 ? a! : b!).client.obtain(`user-${i}`);
      expect(o.ok, describeOutcome(o)).toBe(true);
      if (o.ok) expect(o.token.accessToken).toBe(at(i));
    }
    expect(fleet.fake.tokenRequests).toBe(before);
    const refreshed = await a!.client.obtain("expired");
    expect(refreshed.ok, describeOutcome(refreshed)).toBe(true);
    if (refreshed.ok) expect(refreshed.token.accessToken).not.toBe(expired.accessToken);
    expect(fleet.fake.tokenRequests).toBe(before + 1);
  });

  it("copies each link's account and granted scopes (migration 6), known or not; the refresh on PostgreSQL kept them", async () => {
    const c = new pg.Client({ connectionString: fleet.url });
    await c.connect();
    try {
      const users = ["user-0", "user-1", "user-2", "user-3", "user-4", "user-5", "expired"];
      const { rows } = await c.query<{ user_id: string; account: string | null; granted_scopes: string | null }>(
        "SELECT user_id, account, granted_scopes FROM links WHERE user_id = ANY($1) ORDER BY user_id",
        [users],
      );
      const expected = [0, 1, 2, 3, 4, 5].map((i) => {
        const a = accountOf(i);
        return { user_id: `user-${i}`, account: a.account ?? null, granted_scopes: a.grantedScopes === undefined ? null : a.grantedScopes.join(" ") };
      });
      // "expired" was refreshed by the test before; the fake's answer named no scope.
      expect(rows).toEqual([{ user_id: "expired", account: "octo-expired", granted_scopes: "repo read:org" }, ...expected]);
      const { rows: n } = await c.query<{ n: string }>("SELECT count(*) AS n FROM links WHERE account IS NOT NULL");
      expect(n[0]?.n).toBe(String(LINKS - Math.ceil(LINKS / 3) + 1));
    } finally {
      await c.end();
    }
  });

  it("refuses a second run into the non-empty database and changes nothing", async () => {
    const before = await snapshot(fleet.url);
    const again = await migrate();
    expect(again.code).toBe(1);
    expect(again.stderr).toMatch(/tokenbroker store migrate: the target is not empty \(\d+ links, 1 auth_flows, 1 device_flows, 1 key_sentinels, 0 caller_tokens\); nothing was changed \(--overwrite replaces its contents\)/);
    expect(await snapshot(fleet.url)).toEqual(before);
  });

  it("with --overwrite replaces what the target holds", async () => {
    const c = new pg.Client({ connectionString: fleet.url });
    await c.connect();
    try {
      await c.query("DELETE FROM links WHERE user_id IN ('user-7', 'user-49999')");
      const r = await migrate(["--overwrite"]);
      expect(r.code, r.stderr).toBe(0);
      expect(r.stdout).toContain(`migrated ${LINKS + 1} links, 1 auth_flows, 1 device_flows, 1 key_sentinels`);
      const { rows } = await c.query<{ n: string }>("SELECT count(*) AS n FROM links WHERE user_id IN ('user-7', 'user-49999')");
      expect(rows[0]?.n).toBe("2");
    } finally {
      await c.end();
    }
  });

  it("with the wrong keys file fails the check, names the key ids, and changes nothing even with --overwrite", async () => {
    const before = await snapshot(fleet.url);
    const wrongDir = tempDir("tb-migrate-wrong-");
    const wrong = writeKeys(wrongDir);
    const r = await migrate(["--overwrite"], wrong);
    expect(r.code).toBe(1);
    expect(r.stderr).toContain("tokenbroker store migrate: the keys file does not open the source's values:");
    expect(r.stderr).toMatch(/sealed under key\(s\) \w+; the keyring has \w+/);
    expect(await snapshot(fleet.url)).toEqual(before);
  });

  it("leaves no token value in pg_dump of the database, as text or as bytes", async () => {
    const { stdout: dump } = await run(pgBin("pg_dump"), ["--no-owner", fleet.url], { maxBuffer: 1 << 30, encoding: "utf8" });
    expect(dump).toMatch(/COPY public\.links /);
    expect(dump.split("\n").filter((l) => l.startsWith(`${PROVIDER_ID}\tuser-`)).length).toBe(LINKS);
    for (const secret of [`mig-at-${nonce}`, `mig-rt-${nonce}`, VERIFIER, DEVICE_CODE, expired.refreshToken]) {
      expect(dump).not.toContain(secret);
      expect(dump).not.toContain(Buffer.from(secret).toString("hex"));
    }
  });
});

describe.skipIf(typeof server === "string")(`store migrate's checks before the commit${typeof server === "string" ? ` (${server})` : ""}`, () => {
  // A trigger on the target alters what is written, as a broken copy would: the checks must catch it and roll back.
  it.each([
    ["a value moved to another column does not open", "NEW.access_token := NEW.refresh_token; RETURN NEW;", /link \(fake, u-\d+\) access_token does not open on the target/],
    ["an account changed on the way fails the check", "NEW.account := 'someone-else'; RETURN NEW;", /link \(fake, u-\d+\): the account or the granted scopes differ on the target; rolled back/],
    ["a row that never arrives fails the counts", "IF NEW.user_id = 'u-3' THEN RETURN NULL; END IF; RETURN NEW;", /links: the source has 10 rows, the target 9 after the copy; rolled back/],
  ])("%s, and nothing is left on the target", async (_name, body, message) => {
    if (typeof server === "string") return;
    const dir = tempDir("tb-migrate-check-");
    const keysFile = writeKeys(dir);
    const keyring = new Keyring([Buffer.from(readFileSync(keysFile, "utf8").trim(), "base64")]);
    const sqlitePath = join(dir, "tb.db");
    const seed = openSqliteStore({ path: sqlitePath, sealer: new AesSealer(keyring) });
    const now = Date.now();
    await verifyKeyring(keyring, seed.keyring, now);
    await seed.links.putMany(
      Array.from({ length: 10 }, (_, i) => ({ key: { providerId: PROVIDER_ID, userId: `u-${i}` }, tokens: { accessToken: `a-${i}`, tokenType: "bearer", refreshToken: `r-${i}`, expiresAt: now + 60_000, extra: {} } })),
      now,
    );
    await seed.close();
    const url = await server.freshDatabase();
    const c = new pg.Client({ connectionString: url });
    await c.connect();
    try {
      await migrateSchema(c);
      await c.query(`CREATE FUNCTION alter_copy() RETURNS trigger LANGUAGE plpgsql AS $$ BEGIN ${body} END $$`);
      await c.query("CREATE TRIGGER alter_copy BEFORE INSERT ON links FOR EACH ROW EXECUTE FUNCTION alter_copy()");
      const urlFile = join(dir, "pg-url");
      writeFileSync(urlFile, url, { mode: 0o600 });
      const r = await runCli(["store", "migrate", "--from", `sqlite:${sqlitePath}`, "--to", `postgres:${urlFile}`, "--keys-file", keysFile]);
      expect(r.code).toBe(1);
      expect(r.stderr).toMatch(message);
      const { rows } = await c.query<{ n: string }>("SELECT (SELECT count(*) FROM links) + (SELECT count(*) FROM key_sentinels) AS n");
      expect(rows[0]?.n).toBe("0");
    } finally {
      await c.end();
    }
  });
});

describe.skipIf(typeof server === "string")(`store migrate refuses a source in use${typeof server === "string" ? ` (${server})` : ""}`, () => {
  let fleet: Fleet | undefined;
  afterEach(async () => {
    await fleet?.close();
    fleet = undefined;
  });

  /** A small SQLite store sealed with the rig's keys, and a target URL file; the migrate command for them. */
  async function setup() {
    if (typeof server === "string") throw new Error(server);
    fleet = await Fleet.start(server);
    const dir = tempDir("tb-migrate-busy-");
    const keysFile = writeKeys(fleet.rig.dir);
    const keyring = new Keyring([Buffer.from(readFileSync(keysFile, "utf8").trim(), "base64")]);
    const sqlitePath = join(dir, "tb.db");
    const seed = openSqliteStore({ path: sqlitePath, sealer: new AesSealer(keyring) });
    const now = Date.now();
    await verifyKeyring(keyring, seed.keyring, now);
    const t = fleet.fake.issue();
    await seed.links.put({ providerId: PROVIDER_ID, userId: "u" }, { accessToken: t.accessToken, tokenType: "bearer", refreshToken: t.refreshToken, expiresAt: now + 3_600_000, extra: {} }, now);
    await seed.close();
    const migrate = () => runCli(["store", "migrate", "--from", `sqlite:${sqlitePath}`, "--to", `postgres:${fleet!.urlFile}`, "--keys-file", keysFile]);
    /** The target has no tables at all: the refusal came before it was even opened. */
    const targetUntouched = async (): Promise<boolean> => {
      const c = new pg.Client({ connectionString: fleet!.url });
      await c.connect();
      try {
        const { rows } = await c.query<{ t: string | null }>("SELECT to_regclass('public.links')::text AS t");
        return rows[0]?.t === null;
      } finally {
        await c.end();
      }
    };
    return { fleet, sqlitePath, migrate, targetUntouched };
  }

  it("while a daemon serves the SQLite file: exit 4 naming its pid and command line, nothing written; once it is stopped the copy runs", async () => {
    const { fleet, sqlitePath, migrate, targetUntouched } = await setup();
    const daemon = await fleet.rig.daemon({ storePath: sqlitePath });
    const served = await daemon.client.obtain("u");
    expect(served.ok, describeOutcome(served)).toBe(true);
    const refused = await migrate();
    expect(refused.code, refused.stderr).toBe(4);
    expect(refused.stderr).toMatch(new RegExp(`^tokenbroker store migrate: \\S+tb\\.db is in use: pid ${daemon.serving.child.pid} \\([^)]*main\\.js serve --config [^)]*\\) holds tb\\.db[^;]*; stop it and run again \\(a refresh it commits after the copy would be lost\\); nothing was changed\\n$`));
    expect(refused.stdout).toBe("");
    expect(await targetUntouched()).toBe(true);

    await daemon.kill();
    const copied = await migrate();
    expect(copied.code, copied.stderr).toBe(0);
    expect(copied.stdout).toContain("migrated 1 links, 0 auth_flows, 0 device_flows, 1 key_sentinels, 0 caller_tokens");
  });

  it("while a plain process holds a connection to it: exit 4 naming that process", async () => {
    const { sqlitePath, migrate, targetUntouched } = await setup();
    const holder = await holdOpen(sqlitePath, "write");
    const refused = await migrate();
    expect(refused.code, refused.stderr).toBe(4);
    expect(refused.stderr).toContain(`is in use: pid ${holder.pid} (`);
    expect(refused.stderr).toMatch(/sqlite-holder\.mjs \S+tb\.db write\) holds tb\.db, tb\.db-shm, tb\.db-wal; stop it and run again/);
    expect(await targetUntouched()).toBe(true);
  });
});
