import { execFile, execFileSync } from "node:child_process";
import { chmodSync, chownSync, existsSync, mkdtempSync, readdirSync, rmSync } from "node:fs";
import { createServer } from "node:net";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { promisify } from "node:util";

const run = promisify(execFile);

export interface BenchPostgres {
  /** postgres://… of a database the daemons share (no password: the cluster trusts loopback). */
  url: string;
  stop(): Promise<void>;
}

/**
 * A throwaway PostgreSQL cluster for the fleet scenario, in a temp dir of its
 * own (the postgres user must reach it; the bench's is private), from
 * Debian's /usr/lib/postgresql/<N>/bin (as the postgres user when run as
 * root), on a free loopback port; undefined when no PostgreSQL is installed.
 * (test/support/postgres.ts does the same for the suites, tied to vitest's
 * scopes.)
 */
export async function startBenchPostgres(): Promise<BenchPostgres | undefined> {
  const root = "/usr/lib/postgresql";
  const version = existsSync(root) ? readdirSync(root).filter((v) => existsSync(join(root, v, "bin", "initdb"))).sort((a, b) => Number(b) - Number(a))[0] : undefined;
  if (version === undefined) return undefined;
  const bin = join(root, version, "bin");
  const home = mkdtempSync(join(tmpdir(), "tb-bench-pg-"));
  const asRoot = process.getuid?.() === 0;
  if (asRoot) {
    chmodSync(home, 0o755);
    chownSync(home, Number(execFileSync("id", ["-u", "postgres"], { encoding: "utf8" })), Number(execFileSync("id", ["-g", "postgres"], { encoding: "utf8" })));
  }
  const as = async (cmd: string, args: string[]): Promise<void> => {
    if (!asRoot) return void (await run(join(bin, cmd), args));
    await run("su", ["postgres", "-s", "/bin/sh", "-c", [join(bin, cmd), ...args].map((a) => `'${a.replace(/'/g, "'\\''")}'`).join(" ")]);
  };
  const data = join(home, "data");
  const port = await freePort();
  await as("initdb", ["-D", data, "-A", "trust", "-U", "postgres", "-E", "UTF8", "--locale=C", "--no-sync"]);
  // Durable like a real server (fsync on): the daemons insist on synchronous_commit.
  await as("pg_ctl", ["-D", data, "-l", join(home, "log"), "-o", `-k ${home} -p ${port} -c listen_addresses=127.0.0.1 -c max_connections=200`, "-w", "-t", "60", "start"]);
  await run(join(bin, "createdb"), ["-h", "127.0.0.1", "-p", String(port), "-U", "postgres", "tokenbroker"]);
  return {
    url: `postgres://postgres@127.0.0.1:${port}/tokenbroker`,
    async stop() {
      await as("pg_ctl", ["-D", data, "-m", "fast", "-w", "stop"]).catch(() => undefined);
      rmSync(home, { recursive: true, force: true });
    },
  };
}

function freePort(): Promise<number> {
  return new Promise((resolve, reject) => {
    const s = createServer();
    s.once("error", reject);
    s.listen(0, "127.0.0.1", () => {
      const addr = s.address();
      s.close(() => (typeof addr === "object" && addr !== null ? resolve(addr.port) : reject(new Error("no free port"))));
    });
  });
}
