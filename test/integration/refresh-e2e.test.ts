import * as grpc from "@grpc/grpc-js";
import { durationFromMs, timestampFromMs, timestampMs } from "@bufbuild/protobuf/wkt";
import { afterAll, beforeAll, describe, expect, it } from "vitest";
import { LinkService } from "../../gen/tokenbroker/v1/link_service_pb.js";
import type { Link } from "../../gen/tokenbroker/v1/link_pb.js";
import { TokenService, type ObtainAccessTokensResponse } from "../../gen/tokenbroker/v1/token_service_pb.js";
import type { Token } from "../../gen/tokenbroker/v1/token_pb.js";
import { TEST_CALLERS, TEST_CALLER_TOKEN, startServe, type ServingDaemon } from "../support/cli.js";
import { tempDir } from "../support/temp-dir.js";
import type { FakeProvider } from "../support/fake-provider.js";
import { useFakeProvider } from "../support/scoped-fakes.js";
import { detailOf, grpcClient, grpcFailure, unary } from "../support/grpc.js";
import { detailsOfStatus } from "../support/error-details.js";
import type { Status } from "../../gen/google/rpc/status_pb.js";

function config(dir: string, fake: FakeProvider, extra: Record<string, unknown> = {}): Record<string, unknown> {
  return {
    listen: { grpc: [`unix://${dir}/tb-${Math.random().toString(36).slice(2, 8)}.sock`, "tcp://127.0.0.1:0"] },
    store: { sqlite: { path: `${dir}/tb.db` } },
    encryption: { keys_file: `${dir}/keys` },
    refresh: { timeout: "2s", retry_budget: "3s", initial_backoff: "50ms", max_backoff: "200ms" },
    shutdown_grace: "3s",
    callers: TEST_CALLERS,
    providers: [
      { id: "fake", type: "oauth2", client_id: fake.clientId, client_secret: fake.clientSecret, token_url: fake.tokenUrl, validate_url: fake.validateUrl },
      { id: "gh", type: "github", client_id: fake.clientId, client_secret: fake.clientSecret, token_url: fake.tokenUrl, validate_url: fake.validateUrl },
    ],
    ...extra,
  };
}

async function importLink(target: string, userId: string, t: { accessToken: string; refreshToken: string; expiresAt: number }, providerId = "fake"): Promise<Link> {
  const client = grpcClient(LinkService, target);
  const res = await unary<{ link: Link }>(client, "importLink", {
    userId,
    providerId,
    accessToken: t.accessToken,
    refreshToken: t.refreshToken,
    expiresAt: timestampFromMs(t.expiresAt),
  });
  client.close();
  return res.link;
}

describe("ObtainAccessToken against the daemon process", () => {
  let dir: string;
  let fake: FakeProvider;
  let daemon: ServingDaemon;
  beforeAll(async () => {
    dir = tempDir();
    fake = await useFakeProvider({ expiresInSec: 120 });
    daemon = await startServe(config(dir, fake), dir);
  });
  afterAll(async () => {
    await daemon?.stop();
  });

  it("100 concurrent callers 5 s before expiry share exactly one refresh", async () => {
    const seed = fake.issue({ accessTtlSec: 5 });
    await importLink(daemon.unixTarget!, "alice", seed);
    const before = fake.refreshes;
    const clients = Array.from({ length: 4 }, () => grpcClient(TokenService, daemon.unixTarget!));
    const results = await Promise.all(
      Array.from({ length: 100 }, (_, i) => unary<{ token: Token }>(clients[i % 4]!, "obtainAccessToken", { userId: "alice", providerId: "fake" })),
    );
    clients.forEach((c) => c.close());
    expect(fake.refreshes - before).toBe(1);
    expect(fake.replays).toBe(0);
    const tokens = new Set(results.map((r) => r.token.accessToken));
    expect(tokens.size).toBe(1);
    const [token] = [...tokens];
    expect(token).not.toBe(seed.accessToken);
    expect(fake.isValid(token!)).toBe(true);
    expect(timestampMs(results[0]!.token.expiresAt!)).toBeGreaterThan(Date.now() + 60_000);

    const links = grpcClient(LinkService, daemon.tcpTarget!, { callerToken: TEST_CALLER_TOKEN });
    const link = await unary<{ link: Link }>(links, "getLink", { userId: "alice", providerId: "fake" });
    links.close();
    expect(link.link.hasRefreshToken).toBe(true);
    expect(link.link.refreshFailure).toBeUndefined();
    expect(link.link.lastRefreshedAt).toBeDefined();
  });

  it("20 keys × 50 callers at once: 20 refreshes", async () => {
    const users = Array.from({ length: 20 }, (_, i) => `user-${i}`);
    for (const u of users) await importLink(daemon.unixTarget!, u, fake.issue({ accessTtlSec: 5 }));
    const before = fake.refreshes;
    const client = grpcClient(TokenService, daemon.tcpTarget!, { callerToken: TEST_CALLER_TOKEN });
    const results = await Promise.all(
      users.flatMap((u) => Array.from({ length: 50 }, () => unary<{ token: Token }>(client, "obtainAccessToken", { userId: u, providerId: "fake" }).then((r) => [u, r.token.accessToken] as const))),
    );
    client.close();
    expect(fake.refreshes - before).toBe(20);
    expect(fake.replays).toBe(0);
    const perUser = new Map<string, Set<string>>();
    for (const [u, t] of results) perUser.set(u, (perUser.get(u) ?? new Set()).add(t));
    for (const u of users) expect(perUser.get(u)?.size).toBe(1);
  });

  it("ObtainAccessTokens answers per provider", async () => {
    await importLink(daemon.unixTarget!, "multi", fake.issue({ accessTtlSec: 600 }));
    const client = grpcClient(TokenService, daemon.unixTarget!);
    const res = await unary<ObtainAccessTokensResponse>(client, "obtainAccessTokens", { userId: "multi", providerIds: ["fake", "gh", "nope", "fake"] });
    client.close();
    expect(res.results.map((r) => r.providerId)).toEqual(["fake", "gh", "nope"]);
    expect(res.results[0]!.outcome.case).toBe("token");
    expect(res.results[1]!.outcome.case).toBe("error");
    const [linkMissing, providerMissing] = [res.results[1]!.outcome.value as Status, res.results[2]!.outcome.value as Status];
    expect(linkMissing.code).toBe(grpc.status.NOT_FOUND);
    expect(detailsOfStatus(linkMissing)?.info).toMatchObject({ reason: "LINK_NOT_FOUND", metadata: { user_id: "multi", provider_id: "gh" } });
    expect(detailsOfStatus(linkMissing)?.help?.links[0]?.description).toBe("link first: tokenbroker link --user multi --provider gh");
    expect(providerMissing.code).toBe(grpc.status.NOT_FOUND);
    expect(detailsOfStatus(providerMissing)?.reason).toBe("PROVIDER_NOT_FOUND");
  });

  it("rejects bad input with the right codes and keeps serving", async () => {
    const client = grpcClient(TokenService, daemon.unixTarget!);
    const cases: Array<[Record<string, unknown>, grpc.status, string, string?]> = [
      [{ userId: "", providerId: "fake" }, grpc.status.INVALID_ARGUMENT, "INVALID_ARGUMENT", "user_id"],
      [{ userId: "u", providerId: "" }, grpc.status.INVALID_ARGUMENT, "INVALID_ARGUMENT", "provider_id"],
      [{ userId: "x".repeat(257), providerId: "fake" }, grpc.status.INVALID_ARGUMENT, "INVALID_ARGUMENT", "user_id"],
      [{ userId: "u", providerId: "fake", minValidFor: { seconds: -5n, nanos: 0 } }, grpc.status.INVALID_ARGUMENT, "INVALID_ARGUMENT", "min_valid_for"],
      [{ userId: "u", providerId: "fake", minValidFor: durationFromMs(25 * 3_600_000) }, grpc.status.INVALID_ARGUMENT, "INVALID_ARGUMENT", "min_valid_for"],
      [{ userId: "u", providerId: "nope" }, grpc.status.NOT_FOUND, "PROVIDER_NOT_FOUND"],
      [{ userId: "nobody", providerId: "fake" }, grpc.status.NOT_FOUND, "LINK_NOT_FOUND"],
    ];
    for (const [req, code, reason, field] of cases) {
      const err = await grpcFailure(unary(client, "obtainAccessToken", req));
      expect(err.code, JSON.stringify(req, (_k, v: unknown) => (typeof v === "bigint" ? String(v) : v))).toBe(code);
      const detail = detailOf(err);
      expect(detail?.reason).toBe(reason);
      if (field !== undefined) expect(detail?.field).toBe(field);
    }
    const links = grpcClient(LinkService, daemon.unixTarget!);
    const badImport = await grpcFailure(unary(links, "importLink", { userId: "u", providerId: "fake", accessToken: "" }));
    expect(badImport.code).toBe(grpc.status.INVALID_ARGUMENT);
    expect(detailOf(badImport)?.field).toBe("access_token");
    const notStored = await grpcFailure(unary(links, "getLink", { userId: "u", providerId: "fake" }));
    expect(notStored.code).toBe(grpc.status.NOT_FOUND);
    links.close();
    // Still serving.
    await importLink(daemon.unixTarget!, "after-bad-input", fake.issue({ accessTtlSec: 600 }));
    const ok = await unary<{ token: Token }>(client, "obtainAccessToken", { userId: "after-bad-input", providerId: "fake" });
    expect(ok.token.accessToken).toMatch(/\S/);
    client.close();
  });

  it("lists links in pages, gets and unlinks them; never returns token values", async () => {
    const links = grpcClient(LinkService, daemon.unixTarget!);
    const issued = Array.from({ length: 7 }, () => fake.issue({ accessTtlSec: 600 }));
    for (const [i, t] of issued.entries()) await importLink(daemon.unixTarget!, `pager-${i}`, t);
    const seen: string[] = [];
    let pageToken = "";
    let pages = 0;
    do {
      const res = await unary<{ links: Link[]; nextPageToken: string }>(links, "listLinks", { providerId: "fake", pageSize: 3, pageToken });
      seen.push(...res.links.filter((l) => l.userId.startsWith("pager-")).map((l) => l.userId));
      pageToken = res.nextPageToken;
      pages++;
      expect(JSON.stringify(res, (_k, v: unknown) => (typeof v === "bigint" ? String(v) : v))).not.toMatch(new RegExp(issued.map((t) => t.accessToken).join("|")));
    } while (pageToken !== "" && pages < 50);
    expect(seen.sort()).toEqual(issued.map((_, i) => `pager-${i}`).sort());
    const bad = await grpcFailure(unary(links, "listLinks", { pageToken: "garbage!" }));
    expect(bad.code).toBe(grpc.status.INVALID_ARGUMENT);

    const un = await unary<{ tokenRevoked: boolean }>(links, "unlink", { userId: "pager-0", providerId: "fake" });
    expect(un.tokenRevoked).toBe(false);
    const gone = await grpcFailure(unary(links, "getLink", { userId: "pager-0", providerId: "fake" }));
    expect(detailOf(gone)?.reason).toBe("LINK_NOT_FOUND");
    links.close();
  });

  it("never writes a token value or the client secret to its logs", () => {
    const logs = daemon.output();
    expect(logs).toContain("token refreshed");
    for (const secret of [...fake.issuedTokens(), fake.clientSecret]) expect(logs.includes(secret), "a secret reached the logs").toBe(false);
  });
});

describe("two daemon processes sharing one SQLite file", () => {
  it("50 callers each on one key: exactly one refresh", async () => {
    const dir = tempDir();
    const fake = await useFakeProvider({ expiresInSec: 120, latencyMs: 150 });
    const a = await startServe(config(dir, fake), dir);
    const b = await startServe(config(dir, fake), dir);
    try {
      await importLink(a.unixTarget!, "shared", fake.issue({ accessTtlSec: 5 }));
      const ca = grpcClient(TokenService, a.unixTarget!);
      const cb = grpcClient(TokenService, b.unixTarget!);
      const calls = Array.from({ length: 100 }, (_, i) => unary<{ token: Token }>(i % 2 === 0 ? ca : cb, "obtainAccessToken", { userId: "shared", providerId: "fake" }));
      const results = await Promise.all(calls);
      ca.close();
      cb.close();
      expect(fake.refreshes).toBe(1);
      expect(fake.replays).toBe(0);
      expect(new Set(results.map((r) => r.token.accessToken)).size).toBe(1);
      expect(fake.isValid(results[0]!.token.accessToken)).toBe(true);
    } finally {
      await Promise.all([a.stop(), b.stop()]);
    }
  });
});
