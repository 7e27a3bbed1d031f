import { setTimeout as sleep } from "node:timers/promises";
import { durationMs } from "@bufbuild/protobuf/wkt";
import type { Duration } from "@bufbuild/protobuf/wkt";
import { status as grpcStatus } from "@grpc/grpc-js";
import { afterAll, beforeAll, describe, expect, it } from "vitest";
import type { Link } from "../../gen/tokenbroker/v1/link_pb.js";
import { DeviceLinkState } from "../../gen/tokenbroker/v1/link_service_pb.js";
import type { Token } from "../../gen/tokenbroker/v1/token_pb.js";
import { tempDir } from "../support/temp-dir.js";
import { enableLinkFlows, type LinkFlows } from "../support/fake-link-flows.js";
import type { FakeProvider } from "../support/fake-provider.js";
import { useFakeProvider } from "../support/scoped-fakes.js";
import { detailOf, grpcFailure, unary } from "../support/grpc.js";
import { secretsInStore, secretsInText, startLinkDaemon, storeFiles, type LinkDaemon } from "./link-helpers.js";

/**
 * Issue 5, the device flow (RFC 8628) through the daemon process against a
 * fake that enforces its interval: PollDeviceLink driven the way a client
 * would drive it (waiting retry_after between polls), with the provider's
 * polls counted and timed.
 */

const PROVIDER = "dev";

interface StartResponse {
  sessionId: string;
  userCode: string;
  verificationUri: string;
  verificationUriComplete: string;
  interval?: Duration;
}
interface PollResponse {
  state: DeviceLinkState;
  link?: Link;
  retryAfter?: Duration;
}

describe("device flow through the daemon process", () => {
  let fake: FakeProvider;
  let flows: LinkFlows;
  let tb: LinkDaemon;

  beforeAll(async () => {
    fake = await useFakeProvider({ clientId: "device-client", clientSecret: "device-client-secret-5e6f7a8b" });
    flows = enableLinkFlows(fake, { deviceIntervalSec: 1, verificationUriComplete: true });
    tb = await startLinkDaemon(tempDir("tb-link-device-"), [
      {
        id: PROVIDER,
        type: "oauth2",
        client_id: fake.clientId,
        client_secret: fake.clientSecret,
        token_url: fake.tokenUrl,
        validate_url: fake.validateUrl,
        revoke_url: flows.revokeUrl,
        device_code_url: flows.deviceCodeUrl,
        device_flow: true,
        scopes: ["repo", "read:user"],
      },
    ]);
  });
  afterAll(async () => {
    await tb?.stop();
  });

  const startDevice = (userId: string) => unary<StartResponse>(tb.links, "startDeviceLink", { userId, providerId: PROVIDER });
  const poll = (sessionId: string) => unary<PollResponse>(tb.links, "pollDeviceLink", { sessionId });
  const retryMs = (r: PollResponse): number => durationMs(r.retryAfter!);
  const providerPolls = (): number => flows.session().polls.length;
  /** Waits `ms` and a little more: a timer may fire a millisecond early by the daemon's clock. */
  const waitFor = (ms: number): Promise<void> => sleep(ms + 50);

  it("pending, slow_down, then success: the interval is honoured, slow_down adds 5 s, the link is stored", async () => {
    const started = await startDevice("alice");
    expect(durationMs(started.interval!)).toBe(1000);
    expect(started.userCode).toBe(flows.session().userCode);
    expect(started.verificationUri).toBe(`${fake.url}/device`);
    expect(started.verificationUriComplete).toContain(started.userCode);
    expect(started.sessionId.length).toBeGreaterThanOrEqual(32);
    expect(flows.deviceRequests.at(-1)?.get("scope")).toBe("repo read:user");
    // The provider answers its next two polls with authorization_pending, then slow_down.
    flows.deviceScript.push("pending", "slow_down");

    // (a) Polling before the interval: PENDING without reaching the provider.
    const early = await poll(started.sessionId);
    expect(early.state).toBe(DeviceLinkState.PENDING);
    expect(retryMs(early)).toBeGreaterThan(0);
    expect(retryMs(early)).toBeLessThanOrEqual(1000);
    expect(providerPolls()).toBe(0);

    // Due: five clients poll at once; the provider sees one of them (authorization_pending).
    await waitFor(retryMs(early));
    const burst = await Promise.all(Array.from({ length: 5 }, () => poll(started.sessionId)));
    expect(burst.every((r) => r.state === DeviceLinkState.PENDING)).toBe(true);
    expect(providerPolls()).toBe(1);
    const afterPending = burst.map(retryMs);
    expect(Math.max(...afterPending)).toBe(1000);

    const early2 = await poll(started.sessionId);
    expect(early2.state).toBe(DeviceLinkState.PENDING);
    expect(providerPolls()).toBe(1);

    // (b) The provider says slow_down: retry_after grows by 5 s (1 s → 6 s). The daemon
    // counts the new interval from the end of the 1 s it had reserved for this poll, so
    // it may ask for up to that reservation more, never less.
    await waitFor(retryMs(early2));
    const slowed = await poll(started.sessionId);
    expect(slowed.state).toBe(DeviceLinkState.PENDING);
    expect(providerPolls()).toBe(2);
    const grewBy = retryMs(slowed) - Math.max(...afterPending);
    expect(grewBy).toBeGreaterThanOrEqual(5000 - 50);
    expect(grewBy).toBeLessThanOrEqual(6000);

    // And the new interval is enforced by the daemon, not left to the client.
    await sleep(1100);
    const tooSoon = await poll(started.sessionId);
    expect(tooSoon.state).toBe(DeviceLinkState.PENDING);
    expect(providerPolls()).toBe(2);
    expect(retryMs(tooSoon)).toBeGreaterThan(0);
    expect(retryMs(tooSoon)).toBeLessThanOrEqual(retryMs(slowed) - 1100);

    // The user approves; the client keeps polling as told.
    flows.approveDevice(started.userCode);
    await waitFor(retryMs(tooSoon));
    const done = await poll(started.sessionId);
    expect(done.state).toBe(DeviceLinkState.LINKED);
    expect(done.link).toMatchObject({ userId: "alice", providerId: PROVIDER, hasRefreshToken: true });
    expect(providerPolls()).toBe(3);

    // The provider saw its polls at least an interval apart (1 s, then 6 s after slow_down).
    const [p1, p2, p3] = flows.session().polls as [number, number, number];
    expect(p2 - p1).toBeGreaterThanOrEqual(1000 - 50);
    expect(p3 - p2).toBeGreaterThanOrEqual(6000 - 50);
    expect(flows.session().state).toBe("done");

    // (c) The link is stored and serves a token the provider accepts.
    const { link } = await unary<{ link: Link }>(tb.links, "getLink", { userId: "alice", providerId: PROVIDER });
    expect(link.hasRefreshToken).toBe(true);
    const { token } = await unary<{ token: Token }>(tb.tokens, "obtainAccessToken", { userId: "alice", providerId: PROVIDER });
    expect(fake.isValid(token.accessToken)).toBe(true);

    // The session is finished.
    const gone = await grpcFailure(poll(started.sessionId));
    expect(gone.code).toBe(grpcStatus.NOT_FOUND);
    expect(providerPolls()).toBe(3);
  });

  it("access_denied is terminal: DENIED, nothing stored, the session is gone", async () => {
    const started = await startDevice("bob");
    flows.denyDevice(started.userCode);
    await waitFor(durationMs(started.interval!));
    const denied = await poll(started.sessionId);
    expect(denied.state).toBe(DeviceLinkState.DENIED);
    expect(providerPolls()).toBe(1);
    expect((await grpcFailure(poll(started.sessionId))).code).toBe(grpcStatus.NOT_FOUND);
    expect(providerPolls()).toBe(1);
    const err = await grpcFailure(unary(tb.links, "getLink", { userId: "bob", providerId: PROVIDER }));
    expect(detailOf(err)?.reason).toBe("LINK_NOT_FOUND");
  });

  it("expired_token is terminal: EXPIRED, nothing stored, the session is gone", async () => {
    const started = await startDevice("carol");
    flows.deviceScript.push("expire");
    await waitFor(durationMs(started.interval!));
    const expired = await poll(started.sessionId);
    expect(expired.state).toBe(DeviceLinkState.EXPIRED);
    expect(providerPolls()).toBe(1);
    expect((await grpcFailure(poll(started.sessionId))).code).toBe(grpcStatus.NOT_FOUND);
    const err = await grpcFailure(unary(tb.links, "getLink", { userId: "carol", providerId: PROVIDER }));
    expect(detailOf(err)?.reason).toBe("LINK_NOT_FOUND");
  });

  it("past the device code's expires_in the daemon answers EXPIRED without asking the provider", async () => {
    flows.deviceExpiresInSec = 1;
    let started: StartResponse;
    try {
      started = await startDevice("dave");
    } finally {
      flows.deviceExpiresInSec = 900;
    }
    await sleep(1200);
    const expired = await poll(started.sessionId);
    expect(expired.state).toBe(DeviceLinkState.EXPIRED);
    expect(providerPolls()).toBe(0);
    expect((await grpcFailure(poll(started.sessionId))).code).toBe(grpcStatus.NOT_FOUND);
  });

  it("PollDeviceLink with an unknown session → NOT_FOUND; StartDeviceLink for an unknown provider → PROVIDER_NOT_FOUND", async () => {
    expect((await grpcFailure(poll("no-such-session"))).code).toBe(grpcStatus.NOT_FOUND);
    const err = await grpcFailure(unary(tb.links, "startDeviceLink", { userId: "x", providerId: "nope" }));
    expect(detailOf(err)?.reason).toBe("PROVIDER_NOT_FOUND");
  });

  it("no device code, token or client secret in tb.db / tb.db-wal (running, then stopped) or in the logs", async () => {
    // One flow left pending: its device code is sealed in the store right now.
    await startDevice("erin");
    const secrets = new Map<string, string>();
    [...flows.devices.keys()].forEach((v, i) => secrets.set(`device code ${i}`, v));
    fake.issuedTokens().forEach((v, i) => secrets.set(`token ${i}`, v));
    secrets.set("client secret", fake.clientSecret);
    expect(flows.devices.size).toBe(5);

    expect(storeFiles(tb.dir).some((f) => f.bytes.includes(Buffer.from("alice")))).toBe(true);
    expect(secretsInStore(tb.dir, secrets)).toEqual([]);
    expect(tb.daemon.output()).toContain("link created by device flow");
    expect(secretsInText(tb.daemon.output(), secrets)).toEqual([]);
    await tb.stop();
    expect(secretsInStore(tb.dir, secrets)).toEqual([]);
    expect(secretsInText(tb.daemon.output(), secrets)).toEqual([]);
  });
});
