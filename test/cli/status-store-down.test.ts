/**
 * Issue 23 item 3: `status` while the fleet's PostgreSQL is down prints the
 * listeners, the providers and the store's cause, and exits 4; the daemon's
 * log line names the cause too. Its own cluster: this suite stops the server.
 */
import { writeFileSync } from "node:fs";
import { join } from "node:path";
import { expect, it } from "vitest";
import { TEST_CALLERS, runCli, startServe } from "../support/cli.js";
import { usePostgres } from "../support/postgres.js";
import { tempDir } from "../support/temp-dir.js";

const server = await usePostgres({ own: true });

async function until(what: string, ms: number, check: () => Promise<boolean> | boolean): Promise<void> {
  const end = Date.now() + ms;
  while (!(await check())) {
    if (Date.now() > end) throw new Error(`timed out waiting for ${what}`);
    await new Promise((r) => setTimeout(r, 100));
  }
}

it.skipIf(typeof server === "string")(`status with PostgreSQL stopped: listeners, providers and the store's cause, exit 4${typeof server === "string" ? ` (skipped: ${server})` : ""}`, async () => {
  if (typeof server === "string" || server.control === undefined) return;
  const dir = tempDir();
  const urlFile = join(dir, "pg-url");
  writeFileSync(urlFile, `${await server.freshDatabase()}\n`, { mode: 0o600 });
  const daemon = await startServe(
    {
      listen: { grpc: [`unix://${dir}/tb.sock`, "tcp://127.0.0.1:0"], http: "tcp://127.0.0.1:0" },
      store: { postgres: { url_file: urlFile, connect_timeout: "1s", statement_timeout: "1s", query_timeout: "2s" } },
      encryption: { keys_file: `${dir}/keys` },
      shutdown_grace: "3s",
      callers: TEST_CALLERS,
      providers: [{ id: "gh", type: "github", client_id: "c", client_secret: "s" }, { id: "p", type: "oauth2", client_id: "c", client_secret: "s", token_url: "http://127.0.0.1:9/token" }],
    },
    dir,
  );
  const addr = daemon.unixTarget!;
  try {
    const up = await runCli(["status", "--addr", addr]);
    expect(up.code, up.stderr).toBe(0);

    await server.control.stop();
    await until("the daemon to notice", 15_000, () => daemon.output().includes("the PostgreSQL store is unreachable"));
    const line = daemon.output().split("\n").find((l) => l.includes("the PostgreSQL store is unreachable"))!;
    // The cause in words and code: whichever failure noticed it first (the server's shutdown notice, SQLSTATE 57P01;
    // a reset connection; the refused reconnect).
    const logged = JSON.parse(line) as { msg: string; cause: string };
    expect(logged.msg).toMatch(/^the PostgreSQL store is unreachable \(.+ \((SQLSTATE [0-9A-Z]{5}|E[A-Z]+|PG_[A-Z_]+)\)\): not serving until it is back$/);
    expect(logged.msg).toContain(logged.cause);
    // By now every attempt is refused: the cause status gives is the current one.
    await until("a refused reconnect", 10_000, async () => (await runCli(["status", "--json", "--addr", addr])).stdout.includes("ECONNREFUSED"));

    const text = await runCli(["status", "--addr", addr]);
    expect(text.code, text.stderr).toBe(4);
    expect(text.stderr).toBe("");
    expect(text.stdout).toMatch(/^health: +NOT_SERVING$/m);
    expect(text.stdout).toContain(`listeners:\n  ${addr}  gRPC, no TLS\n  tcp://${daemon.tcpTarget}  gRPC, no TLS\n  ${daemon.http}  Connect, gRPC-Web, no TLS  (--addr ${daemon.httpBaseUrl})\n`);
    expect(text.stdout).toMatch(/^store: +postgres postgres:\/\/\S+ {2}UNAVAILABLE: connection refused \(ECONNREFUSED\)$/m);
    expect(text.stdout).toContain("providers:\n  gh (github)\n  p (oauth2)\n");
    expect(text.stdout).toMatch(/^keys: +unknown: the store cannot serve now$/m);
    expect(text.stdout).toMatch(/^links: +unknown: the store cannot serve now$/m);

    const json = await runCli(["status", "--json", "--addr", addr]);
    expect(json.code).toBe(4);
    const s = JSON.parse(json.stdout) as Record<string, unknown>;
    expect(s).toMatchObject({ health: "NOT_SERVING", store_problem: "connection refused (ECONNREFUSED)", keys: null, links: null, needs_relink: null });
    expect((s.providers as Array<{ id: string }>).map((p) => p.id)).toEqual(["gh", "p"]);
    expect((s.listener_details as unknown[]).length).toBe(3);

    await server.control.start();
    await until("the store back", 20_000, async () => (await runCli(["status", "--addr", addr])).code === 0);
    const back = await runCli(["status", "--json", "--addr", addr]);
    expect(JSON.parse(back.stdout)).toMatchObject({ health: "SERVING", store_problem: null, links: 0 });
  } finally {
    await server.control.start().catch(() => undefined);
    await daemon.stop();
  }
});
