/**
 * WatchAccessToken against daemon processes (issue 22 item 3; docs/design.md
 * §3.5): two daemons on one SQLite file, 10 s tokens from the fake provider
 * (its requests counted), watchers on gRPC and Connect. Rotations are
 * delivered to every watcher with one provider refresh each, always before
 * the previous token drops below min_valid_for; an outage keeps the token
 * flowing flagged refresh_failing and then ends UNAVAILABLE with RetryInfo;
 * unlink ends streams with LINK_NOT_FOUND on both transports; the per-caller
 * bound, the gauge and the audit lines; shutdown ends streams within the
 * grace period; no token value in any daemon's output.
 */
import { timestampFromMs } from "@bufbuild/protobuf/wkt";
import { afterAll, beforeAll, describe, expect, it } from "vitest";
import { LinkService } from "../../gen/tokenbroker/v1/link_service_pb.js";
import { TEST_CALLERS, TEST_CALLER_TOKEN, startServe, type ServingDaemon } from "../support/cli.js";
import type { FakeProvider } from "../support/fake-provider.js";
import { grpcClient, unary } from "../support/grpc.js";
import { pollUntil } from "../support/poll.js";
import { useFakeProvider } from "../support/scoped-fakes.js";
import { tempDir } from "../support/temp-dir.js";
import { TCP, expectUnbrokenRotations, watch, type Watcher } from "../support/watch.js";

const MIN_VALID_MS = 3_000;
const TOKEN_TTL_SEC = 10;
const GRPC_UNAVAILABLE = 14;
const GRPC_NOT_FOUND = 5;
const GRPC_RESOURCE_EXHAUSTED = 8;

function config(dir: string, name: string, fake: FakeProvider): Record<string, unknown> {
  return {
    listen: { grpc: [`unix://${dir}/${name}.sock`, "tcp://127.0.0.1:0"], http: "tcp://127.0.0.1:0" },
    store: { sqlite: { path: `${dir}/tb.db` } },
    encryption: { keys_file: `${dir}/keys` },
    refresh: { timeout: "2s", retry_budget: "1s", initial_backoff: "50ms", max_backoff: "200ms" },
    shutdown_grace: "3s",
    watch: { max_streams_per_caller: 3 },
    callers: TEST_CALLERS,
    providers: [{ id: "fake", type: "oauth2", client_id: fake.clientId, client_secret: fake.clientSecret, token_url: fake.tokenUrl }],
  };
}

describe("WatchAccessToken against two daemon processes on one SQLite store", () => {
  let dir: string;
  let fake: FakeProvider;
  let a: ServingDaemon;
  let b: ServingDaemon;

  beforeAll(async () => {
    dir = tempDir();
    fake = await useFakeProvider({ expiresInSec: TOKEN_TTL_SEC });
    a = await startServe(config(dir, "a", fake), dir, { configName: "a.yaml" });
    b = await startServe(config(dir, "b", fake), dir, { configName: "b.yaml" });
  });
  afterAll(async () => {
    await Promise.all([a?.stop(), b?.stop()]);
  });

  async function importLink(userId: string, ttlSec: number): Promise<string> {
    const t = fake.issue({ accessTtlSec: ttlSec });
    const links = grpcClient(LinkService, a.unixTarget!);
    await unary(links, "importLink", { userId, providerId: "fake", accessToken: t.accessToken, refreshToken: t.refreshToken, expiresAt: timestampFromMs(t.expiresAt) });
    links.close();
    return t.accessToken;
  }

  it("10 s tokens watched for 45 s on both processes (gRPC and Connect): every rotation delivered to every watcher, valid for min_valid_for when delivered, no gap, one provider refresh per rotation", { timeout: 90_000 }, async () => {
    const first = await importLink("watched", TOKEN_TTL_SEC);
    const refreshesBefore = fake.refreshes;
    const req = { userId: "watched", providerId: "fake", minValidForMs: MIN_VALID_MS };
    const watchers: Array<[string, Watcher]> = [
      ["a grpc", watch("grpc", { target: a.unixTarget! }, req)],
      ["a connect", watch("connect", TCP(a.httpBaseUrl!), req)],
      ["b grpc", watch("grpc", TCP(b.tcpTarget!), req)],
      ["b connect-json", watch("connect-json", TCP(b.httpBaseUrl!), req)],
    ];
    await new Promise((r) => setTimeout(r, 45_000));
    const stoppedAt = Date.now();
    for (const [, w] of watchers) w.cancel();
    const refreshes = fake.refreshes - refreshesBefore;

    const sequence = expectUnbrokenRotations(watchers, first, MIN_VALID_MS, stoppedAt);
    const rotated = sequence.length - 1;
    expect(rotated, "45 s of 10 s tokens refreshed 4.75 s before expiry").toBeGreaterThanOrEqual(8);
    expect(refreshes).toBe(rotated);
    expect(fake.replays).toBe(0);
    for (const t of sequence.slice(1)) expect(fake.issuedTokens()).toContain(t);
  });

  it("a provider outage: the current token keeps flowing flagged refresh_failing, then UNAVAILABLE with RetryInfo once it cannot satisfy min_valid_for; after recovery the next Watch works", { timeout: 45_000 }, async () => {
    // 20 s: the refresh ahead starts 4.25 s before the token drops below min_valid_for, room for a failing attempt on a loaded host.
    const first = await importLink("outage", 20);
    const w = watch("grpc", TCP(a.tcpTarget!), { userId: "outage", providerId: "fake", minValidForMs: MIN_VALID_MS });
    await pollUntil("the first message", () => w.seen.length, (n) => n >= 1, 5_000);
    fake.failNext(1_000, { status: 503 });
    const end = await w.ended;
    fake.tokenFaults.length = 0;
    expect(w.seen[0]).toMatchObject({ accessToken: first, failing: false });
    const flagged = w.seen.filter((s) => s.failing);
    expect(flagged.length, JSON.stringify(w.seen.map(({ accessToken: _, ...rest }) => rest), (_k, v: unknown) => (typeof v === "bigint" ? String(v) : v))).toBeGreaterThanOrEqual(1);
    for (const s of flagged) {
      expect(s.accessToken).toBe(first);
      expect(s.failureReason).toBe("PROVIDER_UNAVAILABLE");
      expect(s.expiresAt! - s.at).toBeGreaterThanOrEqual(MIN_VALID_MS);
    }
    expect(end).toMatchObject({ code: GRPC_UNAVAILABLE, reason: "PROVIDER_UNAVAILABLE" });
    expect(end.retryDelayMs).toBeGreaterThan(0);
    // It ended once the token could no longer satisfy min_valid_for, not before.
    expect(w.seen[0]!.expiresAt! - end.at).toBeLessThanOrEqual(MIN_VALID_MS + 250);

    const again = watch("connect", TCP(a.httpBaseUrl!), { userId: "outage", providerId: "fake", minValidForMs: MIN_VALID_MS });
    await pollUntil("a fresh token after recovery", () => again.seen.length, (n) => n >= 1, 10_000);
    again.cancel();
    expect(again.seen[0]!.accessToken).not.toBe(first);
    expect(again.seen[0]!.failing).toBe(false);
    expect(fake.isValid(again.seen[0]!.accessToken)).toBe(true);
  });

  it("unlink during a watch ends the streams with LINK_NOT_FOUND on gRPC and Connect (on both processes)", async () => {
    await importLink("leaver", 600);
    const req = { userId: "leaver", providerId: "fake" };
    const watchers = [watch("grpc", { target: a.unixTarget! }, req), watch("connect", TCP(a.httpBaseUrl!), req), watch("grpc-web", TCP(b.httpBaseUrl!), req)];
    for (const w of watchers) await pollUntil("the first message", () => w.seen.length, (n) => n >= 1, 5_000);
    const links = grpcClient(LinkService, b.unixTarget!);
    const unlinkedAt = Date.now();
    await unary(links, "unlink", req);
    links.close();
    for (const w of watchers) {
      const end = await w.ended;
      expect(end).toMatchObject({ code: GRPC_NOT_FOUND, reason: "LINK_NOT_FOUND" });
      expect(end.at - unlinkedAt).toBeLessThan(3_000);
    }
    const audit = a.output().split("\n").filter((l) => l.includes('"audit":true') && l.includes('"user_id":"leaver"'));
    expect(audit.filter((l) => l.includes('"event":"watch_start"'))).toHaveLength(2);
    const ends = audit.filter((l) => l.includes('"event":"rpc"') && l.includes("WatchAccessToken"));
    expect(ends).toHaveLength(2);
    for (const l of ends) expect(l).toContain('"reason":"LINK_NOT_FOUND"');
  });

  it("a reconnecting client gets the current state first: the same token and generation at once, on the other process and transport", async () => {
    await importLink("again", 600);
    const req = { userId: "again", providerId: "fake" };
    const w = watch("grpc", { target: a.unixTarget! }, req);
    await pollUntil("the first message", () => w.seen.length, (n) => n >= 1, 5_000);
    w.cancel();
    const opened = Date.now();
    const again = watch("connect", TCP(b.httpBaseUrl!), req);
    await pollUntil("the first message after reconnecting", () => again.seen.length, (n) => n >= 1, 5_000);
    again.cancel();
    expect(again.seen[0]!.at - opened).toBeLessThan(2_000);
    expect(again.seen[0]).toMatchObject({ accessToken: w.seen[0]!.accessToken, generation: w.seen[0]!.generation, failing: false });
  });

  it("a caller holds at most watch.max_streams_per_caller streams (RESOURCE_EXHAUSTED naming the bound); tokenbroker_watch_streams counts the open ones", async () => {
    await importLink("many", 600);
    const req = { userId: "many", providerId: "fake" };
    const open = [0, 1, 2].map(() => watch("grpc", TCP(a.tcpTarget!), req));
    for (const w of open) await pollUntil("the first message", () => w.seen.length, (n) => n >= 1, 5_000);
    const gauge = async (): Promise<number> => Number(/^tokenbroker_watch_streams (\d+)$/m.exec(await (await fetch(`${a.httpBaseUrl}/metrics`)).text())?.[1]);
    expect(await gauge()).toBe(3);
    const refused = await watch("connect", TCP(a.httpBaseUrl!), req).ended;
    expect(refused).toMatchObject({ code: GRPC_RESOURCE_EXHAUSTED, reason: "WATCH_LIMIT_REACHED" });
    expect(refused.message).toContain("max_streams_per_caller (3)");
    open[0]!.cancel();
    await pollUntil("the gauge after a cancel", gauge, (n) => n === 2, 5_000);
    const next = watch("connect", TCP(a.httpBaseUrl!), req);
    await pollUntil("a stream in the freed place", () => next.seen.length, (n) => n >= 1, 5_000);
    for (const w of [...open, next]) w.cancel();
    await pollUntil("the gauge once all are gone", gauge, (n) => n === 0, 5_000);
  });

  it("shutdown ends open streams with SHUTTING_DOWN within the grace period; no token value in either daemon's output", async () => {
    await importLink("stopping", 600);
    const req = { userId: "stopping", providerId: "fake" };
    const watchers = [watch("grpc", { target: b.unixTarget! }, req), watch("connect", TCP(b.httpBaseUrl!), req)];
    for (const w of watchers) await pollUntil("the first message", () => w.seen.length, (n) => n >= 1, 5_000);
    const { code, ms } = await b.stop();
    expect(code).toBe(0);
    expect(ms, "the daemon stopped within its 3 s grace period").toBeLessThan(3_000);
    // Both end UNAVAILABLE (a client reconnects), with the reason, on every Node.
    const [grpcEnd, connectEnd] = [await watchers[0]!.ended, await watchers[1]!.ended];
    expect(grpcEnd).toMatchObject({ code: GRPC_UNAVAILABLE, reason: "SHUTTING_DOWN" });
    expect(connectEnd).toMatchObject({ code: GRPC_UNAVAILABLE, reason: "SHUTTING_DOWN" });
    const output = a.output() + b.output();
    for (const t of fake.issuedTokens()) expect(output.includes(t), "a token value in a daemon's output").toBe(false);
    // Streams the callers cancelled (and the ones shutdown ended) are no internal errors.
    expect(output).not.toContain('"msg":"internal error"');
    const ends = output.split("\n").filter((l) => l.includes('"audit":true') && l.includes("WatchAccessToken") && l.includes('"event":"rpc"'));
    expect(ends.length).toBeGreaterThan(0);
    for (const l of ends) expect(l).not.toContain('"grpc_code":"INTERNAL"');
  });
});
