/**
 * docs/design.md §3 invariants 10, 11 and 15 against real processes: a lease
 * holder frozen with SIGSTOP past its lease (refresh.lease_ttl 2 s) while its
 * provider call is in flight, or while it waits out a Retry-After, must not
 * lead any process to present a spent refresh token or to hand out a token
 * the provider has revoked; and a 200 that reached a paused process's socket
 * before its request timer fired is used, not discarded as a timeout. Both
 * daemons run on one host: a holder paused while its request is in flight
 * is alive, so the other waits for it (a takeover could only resend the
 * spent token); one paused in a Retry-After backoff has nothing in doubt
 * (the 503 cleared the record of its send), so its lapsed lease is taken
 * over at once.
 */
import { join } from "node:path";
import * as grpc from "@grpc/grpc-js";
import Database from "better-sqlite3";
import { afterEach, describe, expect, it } from "vitest";
import { describeOutcome, type Outcome } from "./support/broker-client.js";
import { pollUntil } from "../support/poll.js";
import { FaultRig, expiredSeed, sleep, type RigDaemon } from "./support/rig.js";

const LEASE_TTL_MS = 2_000;

let rig: FaultRig | undefined;
afterEach(async () => {
  await rig?.close();
  rig = undefined;
});

/** Whether the link's row records a send (refresh_sent_at), read from the rig's SQLite file. */
function sendRecorded(r: FaultRig, user: string): boolean {
  const db = new Database(join(r.dir, "tb.db"), { readonly: true, fileMustExist: true });
  try {
    const row = db.prepare("SELECT refresh_sent_at AS sent FROM links WHERE user_id = ?").get(user) as { sent: number | null } | undefined;
    return row?.sent !== null && row?.sent !== undefined;
  } finally {
    db.close();
  }
}

/** Resolves with the outcome, or undefined if it has not settled within `ms`. */
async function within(p: Promise<Outcome>, ms: number): Promise<Outcome | undefined> {
  return Promise.race([p, sleep(ms).then(() => undefined)]);
}

/**
 * What every process hands out is valid at the provider, a refusal is never
 * INTERNAL nor a re-link demand, and the link ends healthy in every process
 * without a further provider request.
 */
async function expectHealthy(r: FaultRig, daemons: RigDaemon[], outcomes: Outcome[]): Promise<void> {
  const summary = outcomes.map(describeOutcome).join("\n");
  for (const o of outcomes) {
    if (o.ok) expect(r.fake.isValid(o.token.accessToken), `a process handed out a token the provider does not accept\n${summary}`).toBe(true);
    else expect([grpc.status.DEADLINE_EXCEEDED, grpc.status.UNAVAILABLE], summary).toContain(o.code);
  }
  const requests = r.fake.tokenRequests;
  for (const d of daemons) {
    const now = await d.client.obtain("u", { minValidMs: 0 });
    expect(now.ok, describeOutcome(now)).toBe(true);
    if (now.ok) expect(r.fake.isValid(now.token.accessToken)).toBe(true);
    const link = await d.client.getLink("u");
    expect(link.refreshFailure).toBeUndefined();
    expect(link.hasRefreshToken).toBe(true);
    expect(d.alive()).toBe(true);
  }
  expect(r.fake.tokenRequests).toBe(requests);
  expect(r.fake.replays, summary).toBe(0);
  expect(r.fake.errors).toEqual([]);
}

describe("two daemons on one store, the lease holder paused past its lease", () => {
  it("(a) paused with its provider call in flight; the provider answers into its socket; the other daemon is asked and waits for the live holder; the holder resumes and both hand out its answer", async () => {
    rig = await FaultRig.start({ expiresInSec: 120 });
    const { fake } = rig;
    const refresh = { lease_ttl: "2s", timeout: "20s" };
    const a = await rig.daemon({ refresh });
    const b = await rig.daemon({ refresh });
    await a.client.importLink("u", expiredSeed(fake));

    const held = fake.holdNextTokenRequest();
    const fromA = a.client.obtain("u", { minValidMs: 0, deadlineMs: 60_000 });
    await held.arrived;
    a.pause();
    held.release();
    await held.answered; // rotated: the new tokens wait in A's socket buffer
    expect(fake.refreshes).toBe(1);
    await sleep(3 * LEASE_TTL_MS);

    const fromB = b.client.obtain("u", { minValidMs: 0, deadlineMs: 5_000 });
    const early = await within(fromB, 1_500);
    a.resume();
    const outcomes = [await fromA, early ?? (await fromB)];
    const summary = outcomes.map(describeOutcome).join("\n");
    // A live holder on this host that stalled while sending is not overtaken (invariant 10): B waits for it…
    expect(early, `B answered while A was paused with its send in flight\n${summary}`).toBeUndefined();
    expect(outcomes[0]!.ok, summary).toBe(true);
    // …and hands out A's answer once A has stored it.
    const [x, y] = outcomes as [Outcome, Outcome];
    if (x.ok && y.ok) expect(y.token.accessToken, summary).toBe(x.token.accessToken);
    // Nobody but A talked to the provider: the spent token was never presented again.
    expect(fake.tokenRequests, outcomes.map(describeOutcome).join("\n")).toBe(1);
    await expectHealthy(rig, [a, b], outcomes);
  });

  it("(b) paused during a Retry-After backoff (503, Retry-After: 2) for 4× its lease; the other daemon is asked and refreshes at once (nothing was in doubt); the holder resumes and sends nothing more", async () => {
    rig = await FaultRig.start({ expiresInSec: 120 });
    const { fake } = rig;
    const refresh = { lease_ttl: "2s", timeout: "5s", retry_budget: "10s" };
    const a = await rig.daemon({ refresh });
    const b = await rig.daemon({ refresh });
    await a.client.importLink("u", expiredSeed(fake));

    fake.failNext(1, { status: 503, retryAfterSec: 2 });
    const held = fake.holdNextTokenRequest();
    const fromA = a.client.obtain("u", { minValidMs: 0, deadlineMs: 60_000 });
    await held.arrived;
    held.release();
    await held.answered;
    // A has read the 503, cleared the record of its send and waits out the Retry-After: pause it there.
    await pollUntil("A to clear the record of its send", () => sendRecorded(rig!, "u"), (recorded) => !recorded, 5_000);
    a.pause();
    await sleep(4 * LEASE_TTL_MS);

    const fromB = b.client.obtain("u", { minValidMs: 0, deadlineMs: 8_000 });
    const early = await within(fromB, 1_500);
    a.resume();
    const outcomes = [await fromA, early ?? (await fromB)];
    const summary = outcomes.map(describeOutcome).join("\n");
    // The 503 cleared the record of A's send (invariant 7): the lapsed lease is an ordinary expired one, so B
    // takes it over and refreshes at once, although A is alive on this host.
    expect(early?.ok, `B, asked while A was paused in its backoff\n${summary}`).toBe(true);
    expect(outcomes[0]!.ok, summary).toBe(true);
    const [x, y] = outcomes as [Outcome, Outcome];
    if (x.ok && y.ok) expect(x.token.accessToken, summary).toBe(y.token.accessToken);
    // The 503, then one refresh — B's; A, resumed, sends nothing more.
    expect(fake.tokenRequests, summary).toBe(2);
    expect(fake.refreshes, summary).toBe(1);
    await expectHealthy(rig, [a, b], outcomes);
  });
});

it("(c) one daemon, refresh.timeout 1 s, paused right after its request arrived; the 200 waits in its socket for 3 s; resumed, it uses that answer", async () => {
  rig = await FaultRig.start({ expiresInSec: 120 });
  const { fake } = rig;
  const d = await rig.daemon({ refresh: { timeout: "1s", retry_budget: "3s" } });
  await d.client.importLink("u", expiredSeed(fake));

  const held = fake.holdNextTokenRequest();
  const call = d.client.obtain("u", { minValidMs: 0, deadlineMs: 30_000 });
  await held.arrived;
  d.pause();
  held.release();
  await held.answered;
  await sleep(3_000);
  d.resume();
  const outcome = await call;

  expect(outcome.ok, describeOutcome(outcome)).toBe(true);
  expect(fake.tokenRequests, describeOutcome(outcome)).toBe(1);
  expect(fake.refreshes).toBe(1);
  await expectHealthy(rig, [d], [outcome]);
});
