/**
 * Graceful shutdown of a daemon process with calls in flight (docs/design.md
 * §8), on the Unix socket (connections the daemon accepts itself and injects
 * into grpc-js) as on TCP (a port grpc-js binds), on every Node the suite runs
 * on. SIGTERM while a unary ObtainAccessToken waits for a slow provider: the
 * caller gets its refreshed token, not SHUTTING_DOWN. SIGTERM with Watch
 * streams open, each alone on its connection: each ends with its own final
 * status (UNAVAILABLE, reason SHUTTING_DOWN), not a dropped connection.
 * Both within the grace period, exit 0.
 *
 * Under Node 24 grpc-js's tryShutdown called back at once for injected
 * connections (src/listeners/injected-connections.ts), so the daemon stopped
 * while they were still draining.
 */
import { timestampFromMs } from "@bufbuild/protobuf/wkt";
import { describe, expect, it } from "vitest";
import { LinkService } from "../../gen/tokenbroker/v1/link_service_pb.js";
import { TokenService } from "../../gen/tokenbroker/v1/token_service_pb.js";
import { TEST_CALLERS, TEST_CALLER_TOKEN, startServe, type ServingDaemon } from "../support/cli.js";
import type { FakeProvider } from "../support/fake-provider.js";
import { detailOf, grpcClient, unary } from "../support/grpc.js";
import { pollUntil } from "../support/poll.js";
import { useFakeProvider } from "../support/scoped-fakes.js";
import { tempDir } from "../support/temp-dir.js";
import { watch } from "../support/watch.js";

const GRPC_UNAVAILABLE = 14;
const GRACE_MS = 5_000;
/** The provider answers this long after SIGTERM: well inside the grace period. */
const PROVIDER_DELAY_MS = 1_000;

async function start(fake: FakeProvider): Promise<ServingDaemon> {
  const dir = tempDir();
  const config = {
    listen: { grpc: [`unix://${dir}/tb.sock`, "tcp://127.0.0.1:0"] },
    store: { sqlite: { path: `${dir}/tb.db` } },
    encryption: { keys_file: `${dir}/keys` },
    shutdown_grace: `${GRACE_MS}ms`,
    callers: TEST_CALLERS,
    providers: [{ id: "fake", type: "oauth2", client_id: fake.clientId, client_secret: fake.clientSecret, token_url: fake.tokenUrl }],
  };
  return startServe(config, dir);
}

/** Links `userId` with a fresh token of `ttlSec`; returns its access token. */
async function importLink(daemon: ServingDaemon, fake: FakeProvider, userId: string, ttlSec: number): Promise<string> {
  const t = fake.issue({ accessTtlSec: ttlSec });
  const links = grpcClient(LinkService, daemon.unixTarget!);
  await unary(links, "importLink", { userId, providerId: "fake", accessToken: t.accessToken, refreshToken: t.refreshToken, expiresAt: timestampFromMs(t.expiresAt) });
  links.close();
  return t.accessToken;
}

describe("SIGTERM with calls in flight", () => {
  for (const via of ["unix", "tcp"] as const) {
    it(`a unary ObtainAccessToken waiting for the provider's answer (${via}) gets its refreshed token; exit 0 within the grace`, async () => {
      const fake = await useFakeProvider();
      const daemon = await start(fake);
      // 30 s, inside the default min_valid_for (60 s): the call refreshes.
      const imported = await importLink(daemon, fake, "alice", 30);
      const held = fake.holdNextTokenRequest();
      const client = via === "unix" ? grpcClient(TokenService, daemon.unixTarget!) : grpcClient(TokenService, daemon.tcpTarget!, { callerToken: TEST_CALLER_TOKEN });
      const answer = unary<{ token: { accessToken: string } }>(client, "obtainAccessToken", { userId: "alice", providerId: "fake" }).then(
        (r) => ({ token: r.token.accessToken }),
        (err: unknown) => ({ error: `${String(err)} ${JSON.stringify(detailOf(err))}` }),
      );
      await held.arrived;

      const stopped = daemon.stop("SIGTERM");
      const release = setTimeout(() => held.release(), PROVIDER_DELAY_MS);
      const { code, ms } = await stopped;
      clearTimeout(release);
      held.release();
      const got = await answer;
      client.close();

      expect(got).toEqual({ token: expect.any(String) });
      const token = (got as { token: string }).token;
      expect(token).not.toBe(imported);
      expect(fake.issuedTokens(), "the token the provider's refresh issued").toContain(token);
      expect(code).toBe(0);
      expect(ms, "the daemon waited for the provider's answer").toBeGreaterThanOrEqual(PROVIDER_DELAY_MS - 50);
      expect(ms, `the daemon stopped within its ${GRACE_MS} ms grace period`).toBeLessThan(GRACE_MS);
    });
  }

  it("Watch streams on the Unix socket, each alone on its connection, end with their own status: UNAVAILABLE, reason SHUTTING_DOWN; exit 0 within the grace", async () => {
    const fake = await useFakeProvider();
    const daemon = await start(fake);
    await importLink(daemon, fake, "bob", 600);
    const watchers = [0, 1, 2].map(() => watch("grpc", { target: daemon.unixTarget!, ownConnection: true }, { userId: "bob", providerId: "fake" }));
    for (const w of watchers) await pollUntil("the watch's first message", () => w.seen.length, (n) => n >= 1, 10_000);

    const { code, ms } = await daemon.stop("SIGTERM");
    const ends = await Promise.all(watchers.map((w) => w.ended));
    for (const end of ends) expect(end, JSON.stringify(end)).toMatchObject({ code: GRPC_UNAVAILABLE, reason: "SHUTTING_DOWN" });
    expect(code).toBe(0);
    expect(ms, `the daemon stopped within its ${GRACE_MS} ms grace period`).toBeLessThan(GRACE_MS);
  });
});

describe("SIGTERM right after the daemon says it is serving", () => {
  it("drains and exits 0, every time (8 starts): the signal handlers are in place before the serving line", { timeout: 120_000 }, async () => {
    const fake = await useFakeProvider();
    const codes: (number | null)[] = [];
    for (let i = 0; i < 8; i++) {
      const daemon = await start(fake);
      // startServe resolves the moment the "serving" line is read.
      const { code } = await daemon.stop();
      codes.push(code);
      expect(daemon.output()).toContain('"msg":"signal received"');
    }
    expect(codes).toEqual(Array(8).fill(0));
  });
});
