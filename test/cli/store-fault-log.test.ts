/**
 * Issue 23 item 3: a store-fault log line of the running daemon shows the
 * fault's SQLSTATE — the OAuth-code redaction no longer hides it — and
 * still no secret. A refresh the provider answered meets a locked `links`
 * table: its commit runs into lock_timeout (SQLSTATE 55P03), is held in
 * memory, and lands once the lock is gone.
 */
import { writeFileSync } from "node:fs";
import { join } from "node:path";
import { timestampFromMs } from "@bufbuild/protobuf/wkt";
import pg from "pg";
import { expect, it } from "vitest";
import { LinkService } from "../../gen/tokenbroker/v1/link_service_pb.js";
import { TEST_CALLERS, runCli, startServe } from "../support/cli.js";
import { grpcClient, unary } from "../support/grpc.js";
import { usePostgres } from "../support/postgres.js";
import { useFakeProvider } from "../support/scoped-fakes.js";
import { tempDir } from "../support/temp-dir.js";

const server = await usePostgres();

async function until(what: string, ms: number, check: () => boolean): Promise<void> {
  const end = Date.now() + ms;
  while (!check()) {
    if (Date.now() > end) throw new Error(`timed out waiting for ${what}`);
    await new Promise((r) => setTimeout(r, 50));
  }
}

it.skipIf(typeof server === "string")(`a commit that meets a locked table logs its SQLSTATE (55P03) as err.code${typeof server === "string" ? ` (skipped: ${server})` : ""}`, async () => {
  if (typeof server === "string") return;
  const dir = tempDir();
  const url = await server.freshDatabase();
  writeFileSync(join(dir, "pg-url"), `${url}\n`, { mode: 0o600 });
  const fake = await useFakeProvider({ expiresInSec: 3600 });
  const daemon = await startServe(
    {
      listen: { grpc: [`unix://${dir}/tb.sock`] },
      store: { postgres: { url_file: join(dir, "pg-url") } },
      encryption: { keys_file: `${dir}/keys` },
      shutdown_grace: "5s",
      callers: TEST_CALLERS,
      providers: [{ id: "fake", type: "oauth2", client_id: fake.clientId, client_secret: fake.clientSecret, token_url: fake.tokenUrl }],
    },
    dir,
  );
  const locker = new pg.Client({ connectionString: url });
  await locker.connect();
  try {
    const seed = fake.issue({ accessTtlSec: 5 });
    const links = grpcClient(LinkService, daemon.unixTarget!);
    await unary(links, "importLink", { userId: "alice", providerId: "fake", accessToken: seed.accessToken, refreshToken: seed.refreshToken, expiresAt: timestampFromMs(seed.expiresAt) });
    links.close();

    // The provider answers only once the table is locked: the rotated tokens then cannot be stored.
    const held = fake.holdNextTokenRequest();
    const call = runCli(["token", "--user", "alice", "--provider", "fake", "--min-valid", "60s", "--addr", daemon.unixTarget!]);
    await held.arrived;
    await locker.query("BEGIN");
    await locker.query("LOCK TABLE links IN ACCESS EXCLUSIVE MODE");
    held.release();
    await until("the held commit's log line", 20_000, () => daemon.output().includes("storing a refreshed token failed; holding it in memory and retrying"));
    await locker.query("COMMIT");
    const r = await call;
    expect(r.code, r.stderr).toBe(0);

    const line = daemon.output().split("\n").find((l) => l.includes("storing a refreshed token failed; holding it in memory and retrying"))!;
    expect(JSON.parse(line)).toMatchObject({ provider: "fake", user: "alice", err: { code: "55P03" } });
    expect(line).not.toContain("[redacted]");
    const issued = [seed.accessToken, seed.refreshToken, r.stdout.trim(), fake.clientSecret];
    for (const secret of issued) expect(daemon.output()).not.toContain(secret);
  } finally {
    await locker.query("ROLLBACK").catch(() => undefined);
    await locker.end();
    await daemon.stop();
  }
});
