/**
 * docs/design.md §3 invariants 10 and 11, in process: no request carries a
 * refresh token without a confirmed lease — before the first attempt and
 * before every retry — and a holder that lost its lease sends nothing more.
 * An interrupted refresh (a holder that sent and died) is not sent again
 * outside the provider's grace window; inside it, it is.
 */
import { spawn } from "node:child_process";
import { readFileSync } from "node:fs";
import { describe, expect, it } from "vitest";
import { currentIdentity, formatOwner } from "../../src/broker/lease-owner.js";
import { Reason } from "../../src/errors/index.js";
import type { LinkKey, LinkRecord } from "../../src/store/link-store.js";
import { brokerError, harness, key, stored, testSettings, until, type Harness } from "./harness.js";

const MIN_VALID = 60_000;

/** The owner id of a process on this host that has exited (a real, dead pid). */
async function deadOwner(): Promise<string> {
  const child = spawn(process.execPath, ["-e", "setInterval(() => {}, 1000)"], { stdio: "ignore" });
  await new Promise((r) => setTimeout(r, 50));
  const stat = readFileSync(`/proc/${child.pid}/stat`, "utf8");
  const startTicks = stat.slice(stat.lastIndexOf(")") + 2).split(" ")[19]!;
  const exited = new Promise((r) => child.once("exit", r));
  child.kill("SIGKILL");
  await exited;
  return formatOwner({ ...currentIdentity(), pid: child.pid!, startTicks, nonce: "dead01" });
}

/** A refresh of `k` whose first attempt got a 503 with Retry-After: 1, once the engine waits it out. */
async function inRetryAfterBackoff(h: Harness, k: LinkKey): Promise<{ refreshing: Promise<LinkRecord> }> {
  await h.seed(k, { accessTtlSec: 5 });
  h.fake.failNext(1, { status: 503, retryAfterSec: 1 });
  const refreshing = h.engine.obtain(k, MIN_VALID);
  await until(() => h.logs.text.includes("refresh attempt failed"), "the engine to start its backoff");
  expect(h.fake.tokenRequests).toBe(1);
  return { refreshing };
}

describe("every send under a confirmed lease (invariant 10)", () => {
  it("a holder whose lease was taken over during a Retry-After backoff sends nothing more", async () => {
    const h = await harness({ settings: { budgetMs: 3000, leaseTtlMs: 600 } });
    const k = key("alice");
    const { refreshing: first } = await inRetryAfterBackoff(h, k);
    // Another process takes the lease over while this one waits out Retry-After.
    const lease = await h.store.readLease(k);
    expect(lease?.owner).toBe(h.engine.owner);
    const stolen = await h.store.claimLease(k, formatOwner({ ...currentIdentity(), nonce: "thief0" }), 60_000, {
      owner: lease!.owner,
      generation: lease!.generation,
    });
    expect(stolen.claimed).toBe(true);

    // The engine gives up waiting for the thief (budget 3 s) without sending again; its waits are skipped.
    await brokerError(h.skipWaits(first), Reason.PROVIDER_UNAVAILABLE);
    expect(h.fake.tokenRequests).toBe(1);
    expect(h.logs.text).toContain("refresh lease lost");
  });

  it("a lease shorter than a Retry-After backoff is kept by the heartbeat, and the retry goes out under it", async () => {
    // A 1 s lease and a 1 s Retry-After: the heartbeat (every third of the lease) keeps it.
    const h = await harness({ settings: { budgetMs: 3000, leaseTtlMs: 1000 } });
    const k = key("bob");
    const { refreshing: pending } = await inRetryAfterBackoff(h, k);
    // Skipped in deadline order: every heartbeat due before the retry renews the lease first.
    const got = await h.skipWaits(pending);
    expect(h.fake.isValid(got.accessToken)).toBe(true);
    expect(h.fake.tokenRequests).toBe(2);
    expect(h.fake.replays).toBe(0);
    expect(h.logs.text).not.toContain("refresh lease lost");
    expect(await h.store.readLease(k)).toBeNull();
  });
});

describe("interrupted refreshes (invariant 11)", () => {
  it("a dead holder that was sending: taken over at once, the link failed with a reason naming the interruption, nothing sent", async () => {
    const h = await harness();
    const k = key("carol");
    const { record } = await h.seed(k, { accessTtlSec: 5 });
    const dead = await deadOwner();
    const claim = await h.store.claimLease(k, dead, 60_000, null);
    if (!claim.claimed) throw new Error("expected a claim");
    expect(await h.store.confirmLease(k, claim.lease, record.version, 60_000, { mark: "sending" })).toBe(true);

    const started = Date.now();
    const err = await brokerError(h.engine.obtain(k, MIN_VALID), Reason.REAUTH_REQUIRED);
    expect(Date.now() - started).toBeLessThan(1000); // not the 60 s lease
    expect(err.detail.failureReason).toMatch(/interrupted when that process died/);
    expect(err.detail.failureReason).toMatch(/was not sent again/);
    expect(h.fake.tokenRequests).toBe(0);
    const rec = await stored(h, k);
    expect(rec.refreshToken).toBeNull();
    expect(rec.refreshFailure?.reason).toBe(err.detail.failureReason);
  });

  it("inside the provider's grace window the previous refresh token is sent again", async () => {
    const h = await harness({ provider: { rotationGraceMs: 30_000 } });
    const k = key("dave");
    const { record } = await h.seed(k, { accessTtlSec: 5 });
    const claim = await h.store.claimLease(k, await deadOwner(), 60_000, null);
    if (!claim.claimed) throw new Error("expected a claim");
    await h.store.confirmLease(k, claim.lease, record.version, 60_000, { mark: "sending" });

    const got = await h.engine.obtain(k, MIN_VALID);
    expect(h.fake.isValid(got.accessToken)).toBe(true);
    expect(h.fake.tokenRequests).toBe(1);
    expect(h.fake.replays).toBe(0);
    expect((await stored(h, k)).refreshFailure).toBeNull();
  });

  it("a dead holder that was not sending is taken over at once and the refresh simply runs", async () => {
    const h = await harness();
    const k = key("erin");
    await h.seed(k, { accessTtlSec: 5 });
    const claim = await h.store.claimLease(k, await deadOwner(), 60_000, null);
    expect(claim.claimed).toBe(true);
    const started = Date.now();
    const got = await h.engine.obtain(k, MIN_VALID);
    expect(Date.now() - started).toBeLessThan(1000);
    expect(h.fake.isValid(got.accessToken)).toBe(true);
    expect(h.fake.tokenRequests).toBe(1);
  });

  it("a live holder on this host that stalled while sending is waited for, never overtaken", async () => {
    const h = await harness({ settings: testSettings({ leaseTtlMs: 200, budgetMs: 300, timeoutMs: 200 }) });
    const k = key("frank");
    const { record } = await h.seed(k, { accessTtlSec: 5 });
    // This process is alive: a lease in its name, with a pid and start time that match.
    const stalled = formatOwner({ ...currentIdentity(), nonce: "stall0" });
    const claim = await h.store.claimLease(k, stalled, 200, null);
    if (!claim.claimed) throw new Error("expected a claim");
    await h.store.confirmLease(k, claim.lease, record.version, 200, { mark: "sending" });
    await h.clock.advance(250); // its lease has expired

    const err = await brokerError(h.skipWaits(h.engine.obtain(k, MIN_VALID)), Reason.PROVIDER_UNAVAILABLE);
    expect(err.detail.metadata?.refresh_in_progress).toBe("true");
    expect(h.fake.tokenRequests).toBe(0);
    expect((await h.store.readLease(k))?.owner).toBe(stalled);
  });
});
