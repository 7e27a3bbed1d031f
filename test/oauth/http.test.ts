/**
 * docs/design.md §3 invariant 15: the request timeout bounds waiting for the
 * provider, not reading an answer that is already there.
 */
import { afterAll, beforeAll, beforeEach, describe, expect, it } from "vitest";
import { DEADLINE_GRACE_MS } from "../../src/oauth/deadline.js";
import { fetchBounded } from "../../src/oauth/http.js";
import { OAuthError } from "../../src/oauth/oauth-error.js";
import { refreshGrant } from "../../src/oauth/refresh.js";
import { validateToken } from "../../src/oauth/validate.js";
import { ROTATED, pauseAt, pauseOnceReceived, startWorkerServer, type WorkerServer } from "./worker-server.js";

const TIMEOUT_MS = 200;
/** Scheduling noise on a shared two-core machine. */
const SLACK_MS = 400;

let server: WorkerServer;
beforeAll(async () => {
  server = await startWorkerServer();
  // The first fetch of a process loads undici; keep that out of the timed tests.
  await fetchBounded(`${server.url}/slow-body`, post, { timeoutMs: 5000 }, "warm-up");
});
afterAll(async () => {
  await server.close();
});
beforeEach(() => server.reset());

const post = { method: "POST", headers: { "content-type": "application/x-www-form-urlencoded" }, body: "grant_type=refresh_token" };

async function failure(p: Promise<unknown>): Promise<OAuthError> {
  const e = await p.then(
    () => new Error("expected a rejection"),
    (err: unknown) => err,
  );
  expect(e).toBeInstanceOf(OAuthError);
  return e as OAuthError;
}

describe("an answer that arrived while the process could not run is used", () => {
  const PAUSED_MS = 500;
  const tokenEndpoint = { id: "w", clientId: "cid", clientSecret: "cs", tokenAuthMethod: "client_secret_basic", extraTokenKeys: [], quirks: "standard", scopes: [] } as const;

  it("fetchBounded: paused before the timeout and resumed past it, the answer in the socket buffer", async () => {
    const started = performance.now();
    const request = fetchBounded(`${server.url}/answer`, post, { timeoutMs: PAUSED_MS }, "token endpoint");
    const began = await pauseOnceReceived(server, started + 2 * PAUSED_MS, request);
    expect(began - started).toBeLessThan(PAUSED_MS);
    expect(performance.now() - started).toBeGreaterThan(2 * PAUSED_MS);
    const x = await request;
    expect(x.status).toBe(200);
    expect(JSON.parse(Buffer.from(x.body).toString("utf8"))).toEqual(ROTATED);
  });

  it("fetchBounded: paused during the grace after the timeout, the answer in the socket buffer", async () => {
    const started = performance.now();
    const request = fetchBounded(`${server.url}/answer`, post, { timeoutMs: PAUSED_MS }, "token endpoint");
    // Timers fire in order: the deadline, then this pause, then (overdue) the end of the grace.
    await pauseAt(server, started + PAUSED_MS + 20, started + 2 * PAUSED_MS + DEADLINE_GRACE_MS);
    const x = await request;
    expect(JSON.parse(Buffer.from(x.body).toString("utf8"))).toEqual(ROTATED);
  });

  it("refreshGrant: the rotated refresh token is not thrown away as a timeout", async () => {
    const started = performance.now();
    const refresh = refreshGrant({ ...tokenEndpoint, tokenUrl: `${server.url}/answer` }, "rt-old", { timeoutMs: PAUSED_MS });
    await pauseOnceReceived(server, started + 2 * PAUSED_MS, refresh);
    await expect(refresh).resolves.toMatchObject({ accessToken: ROTATED.access_token, refreshToken: ROTATED.refresh_token, expiresInSec: 60 });
  });

  it("validateToken: a validation answered in time is a verdict, not unknown", async () => {
    const started = performance.now();
    const verdict = validateToken(`${server.url}/answer`, "at", { timeoutMs: PAUSED_MS });
    await pauseOnceReceived(server, started + 2 * PAUSED_MS, verdict);
    await expect(verdict).resolves.toEqual({ outcome: "valid", status: 200 });
  });
});

describe("a provider that does not answer still times out", () => {
  it("within the timeout and its grace", async () => {
    const started = performance.now();
    const err = await failure(fetchBounded(`${server.url}/hang`, post, { timeoutMs: TIMEOUT_MS }, "token endpoint"));
    const elapsed = performance.now() - started;
    expect(err).toMatchObject({ kind: "transient", sent: "unknown", message: `token endpoint timed out after ${TIMEOUT_MS} ms` });
    expect(err.status).toBeUndefined();
    expect(elapsed).toBeGreaterThanOrEqual(TIMEOUT_MS + DEADLINE_GRACE_MS - 5);
    expect(elapsed).toBeLessThan(TIMEOUT_MS + DEADLINE_GRACE_MS + SLACK_MS);
  });

  it("a refused connection was not sent", async () => {
    const closed = await startWorkerServer();
    const url = closed.url;
    await closed.close();
    const err = await failure(fetchBounded(`${url}/answer`, post, { timeoutMs: TIMEOUT_MS }, "token endpoint"));
    expect(err).toMatchObject({ kind: "transient", sent: "not_sent", message: "token endpoint unreachable (ECONNREFUSED)" });
  });
});

describe("once the headers are in, the body has its own, generous bound", () => {
  it("a body that takes longer than the request timeout is read within its own bound", async () => {
    const started = performance.now();
    const x = await fetchBounded(`${server.url}/slow-body`, post, { timeoutMs: 150, bodyTimeoutMs: 5000 }, "token endpoint");
    expect(performance.now() - started).toBeGreaterThan(300);
    expect(JSON.parse(Buffer.from(x.body).toString("utf8"))).toEqual(ROTATED);
  });

  it("a 2xx body that stalls ends at bodyTimeoutMs, as an unusable answer (the provider may have rotated)", async () => {
    const started = performance.now();
    const err = await failure(fetchBounded(`${server.url}/stall-body`, post, { timeoutMs: 100, bodyTimeoutMs: 300 }, "token endpoint"));
    const elapsed = performance.now() - started;
    expect(err).toMatchObject({ kind: "unusable_answer", sent: "unknown", status: 200, message: "token endpoint answered HTTP 200 but its body did not arrive within 300 ms" });
    expect(elapsed).toBeGreaterThanOrEqual(300 + DEADLINE_GRACE_MS - 5);
    expect(elapsed).toBeLessThan(300 + DEADLINE_GRACE_MS + SLACK_MS);
  });

  it("an error body that stalls is transient: the provider answered with an error", async () => {
    const err = await failure(fetchBounded(`${server.url}/stall-body-503`, post, { timeoutMs: 100, bodyTimeoutMs: 200 }, "token endpoint"));
    expect(err).toMatchObject({ kind: "transient", sent: "answered", status: 503 });
  });

  it("by default the body bound is the timeout, counted afresh from the headers", async () => {
    const started = performance.now();
    const err = await failure(fetchBounded(`${server.url}/stall-body`, post, { timeoutMs: 150 }, "validate endpoint"));
    expect(err).toMatchObject({ status: 200, message: "validate endpoint answered HTTP 200 but its body did not arrive within 150 ms" });
    expect(performance.now() - started).toBeLessThan(2 * 150 + DEADLINE_GRACE_MS + SLACK_MS);
  });

  it("a token endpoint's body is given at least 30 s, whatever the timeout", async () => {
    const p = { id: "w", tokenUrl: `${server.url}/stall-body`, clientId: "cid", clientSecret: "cs", tokenAuthMethod: "client_secret_basic", extraTokenKeys: [], quirks: "standard", scopes: [] } as const;
    const ac = new AbortController();
    const started = performance.now();
    // Shutdown is the only way out before 30 s; it ends the read at once, without grace.
    setTimeout(() => ac.abort(), 800);
    const err = await failure(refreshGrant(p, "rt-old", { timeoutMs: 100, signal: ac.signal }));
    expect(err).toMatchObject({ kind: "unusable_answer", sent: "unknown", status: 200, message: "token endpoint answered HTTP 200 but its body was aborted" });
    expect(performance.now() - started).toBeGreaterThanOrEqual(790);
  });
});
