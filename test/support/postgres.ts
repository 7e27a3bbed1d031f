import { execFile, execFileSync } from "node:child_process";
import { chmodSync, chownSync, existsSync, mkdtempSync, readdirSync, rmSync } from "node:fs";
import { createServer } from "node:net";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { promisify } from "node:util";
import pg from "pg";
import { atScopeEnd } from "./scope-cleanup.js";

const run = promisify(execFile);

/** A PostgreSQL server the PostgreSQL suites run against. */
export interface PgServer {
  /** A fresh, empty database on it (dropped when the caller's scope ends); its URL. */
  freshDatabase(): Promise<string>;
  /** Present only for a cluster this helper started: stop and start it again (same port, same data). */
  control?: { stop(): Promise<void>; start(): Promise<void>; dataDir: string; binDir: string };
}

let skipNoted = false;

/**
 * The server for a PostgreSQL suite: `TOKENBROKER_TEST_PG_URL` when set
 * (a role that may CREATE DATABASE), else a throwaway cluster started from
 * /usr/lib/postgresql/<N>/bin (as the postgres user when running as root, on
 * a free loopback port; stopped and removed when the caller's scope ends).
 * `own: true` always starts a private cluster (a suite that restarts its
 * server). A string is the reason no server can be had: skip with it.
 */
export async function usePostgres(opts: { own?: boolean } = {}): Promise<PgServer | string> {
  const url = process.env["TOKENBROKER_TEST_PG_URL"];
  if (url !== undefined && url !== "" && opts.own !== true) return external(url);
  const binDir = findBinDir();
  if (binDir === undefined) {
    const reason = opts.own === true ? "this suite starts its own PostgreSQL cluster and needs initdb (Debian's postgresql)" : "no PostgreSQL: set TOKENBROKER_TEST_PG_URL or install Debian's postgresql";
    if (!skipNoted) console.warn(`PostgreSQL suites skipped: ${reason}`);
    skipNoted = true;
    return reason;
  }
  return cluster(binDir);
}

function findBinDir(): string | undefined {
  const root = "/usr/lib/postgresql";
  if (!existsSync(root)) return undefined;
  const versions = readdirSync(root).filter((v) => existsSync(join(root, v, "bin", "initdb"))).sort((a, b) => Number(b) - Number(a));
  return versions[0] === undefined ? undefined : join(root, versions[0], "bin");
}

function external(url: string): PgServer {
  return { freshDatabase: () => createDatabase(url) };
}

let counter = 0;
async function createDatabase(adminUrl: string): Promise<string> {
  const name = `tb_test_${process.pid}_${Date.now().toString(36)}_${counter++}`;
  const admin = new pg.Client({ connectionString: adminUrl });
  await admin.connect();
  try {
    await admin.query(`CREATE DATABASE ${name} TEMPLATE template0`);
  } finally {
    await admin.end();
  }
  atScopeEnd(async () => {
    const c = new pg.Client({ connectionString: adminUrl });
    await c.connect();
    try {
      await c.query(`DROP DATABASE IF EXISTS ${name} WITH (FORCE)`);
    } finally {
      await c.end();
    }
  });
  const u = new URL(adminUrl);
  u.pathname = `/${name}`;
  return u.toString();
}

async function freePort(): Promise<number> {
  return new Promise((resolve, reject) => {
    const s = createServer();
    s.once("error", reject);
    s.listen(0, "127.0.0.1", () => {
      const addr = s.address();
      s.close(() => (typeof addr === "object" && addr !== null ? resolve(addr.port) : reject(new Error("no port"))));
    });
  });
}

async function cluster(binDir: string): Promise<PgServer> {
  const root = mkdtempSync(join(tmpdir(), "tb-pg-"));
  const dataDir = join(root, "data");
  const asRoot = process.getuid?.() === 0;
  const pgUser = asRoot ? Number(execFileSync("id", ["-u", "postgres"], { encoding: "utf8" }).trim()) : undefined;
  const pgGroup = asRoot ? Number(execFileSync("id", ["-g", "postgres"], { encoding: "utf8" }).trim()) : undefined;
  if (pgUser !== undefined && pgGroup !== undefined) {
    chmodSync(root, 0o755);
    chownSync(root, pgUser, pgGroup);
  }
  const port = await freePort();
  const as = async (cmd: string, args: string[]): Promise<void> => {
    if (asRoot) {
      const line = [join(binDir, cmd), ...args].map((a) => `'${a.replace(/'/g, "'\\''")}'`).join(" ");
      await run("su", ["postgres", "-s", "/bin/sh", "-c", line]);
    } else await run(join(binDir, cmd), args);
  };
  await as("initdb", ["-D", dataDir, "-A", "trust", "-U", "postgres", "--no-sync", "-E", "UTF8", "--locale=C"]);
  // fsync off keeps two cores free and loses nothing unless the machine itself crashes; commits stay
  // synchronous (the store insists), so a server killed by the tests keeps every acknowledged write.
  const serverOpts = `-k ${root} -p ${port} -c listen_addresses=127.0.0.1 -c fsync=off -c full_page_writes=off -c max_connections=200`;
  const start = (): Promise<void> => as("pg_ctl", ["-D", dataDir, "-l", join(root, "log"), "-o", serverOpts, "-w", "-t", "60", "start"]);
  const stop = (): Promise<void> => as("pg_ctl", ["-D", dataDir, "-m", "immediate", "-w", "stop"]);
  await start();
  atScopeEnd(async () => {
    await stop().catch(() => undefined);
    rmSync(root, { recursive: true, force: true });
  });
  const adminUrl = `postgres://postgres@127.0.0.1:${port}/postgres`;
  return { freshDatabase: () => createDatabase(adminUrl), control: { stop, start, dataDir, binDir } };
}
