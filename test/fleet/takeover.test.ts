/**
 * Lease faults across hosts on one PostgreSQL (docs/design.md §3 invariants
 * 10, 11 and 13, §4.5): a holder killed with -9 mid-refresh is taken over
 * at once and without a replay — its send is an interrupted refresh
 * (REFRESH_INTERRUPTED for refresh.interrupted_window, then REAUTH_REQUIRED),
 * or resent inside the provider's grace window — and a host whose clock runs
 * 10 minutes fast cannot steal a live lease, because leases expire on the
 * database's clock.
 */
import { afterEach, describe, expect, it } from "vitest";
import { describeOutcome } from "../faults/support/broker-client.js";
import { ask, askUntilFailed, expectInterruptedThenFailed } from "../faults/support/interruption.js";
import { expiredSeed, sleep } from "../faults/support/rig.js";
import { usePostgres } from "../support/postgres.js";
import { Fleet, SKEWED_HOST } from "./support/fleet.js";

const server = await usePostgres();
/** refresh.interrupted_window, short enough to see both phases. */
const WINDOW_MS = 3_000;

let fleet: Fleet | undefined;
afterEach(async () => {
  await fleet?.close();
  fleet = undefined;
});

describe.skipIf(typeof server === "string")(`lease faults across hosts on PostgreSQL${typeof server === "string" ? ` (${server})` : ""}`, () => {
  it("kill -9 of the holder while the provider holds its refresh: another host answers REFRESH_INTERRUPTED within 2 s naming the killed sender, REAUTH_REQUIRED naming the interruption after refresh.interrupted_window (3 s); 0 replays, the spent token never sent again", async () => {
    if (typeof server === "string") return;
    fleet = await Fleet.start(server, { expiresInSec: 120 });
    const { fake } = fleet;
    const [a, b] = await fleet.daemons(2, { refresh: { interrupted_window: `${WINDOW_MS}ms` } });
    await a!.client.importLink("u", expiredSeed(fake));
    const held = fake.holdNextTokenRequest();
    const call = a!.client.obtain("u", { minValidMs: 0, deadlineMs: 30_000 });
    await held.arrived;
    const providerSawAt = Date.now();
    const pid = a!.serving.child.pid;
    await a!.kill();
    held.release();
    await held.answered;
    expect(fake.refreshes).toBe(1); // the provider rotated; nobody will read its answer
    expect((await call).ok).toBe(false);

    // The dead holder is taken over at once (not after the 15 s lease), and the answer says what happened.
    const first = await ask(b!.client, "u", 30_000);
    const what = describeOutcome(first.outcome);
    expect(first.outcome.ms, what).toBeLessThan(2_000);
    expect(first.outcome.ok ? "a token" : first.outcome.reason, what).toBe("REFRESH_INTERRUPTED");
    const asked = await askUntilFailed(b!.client, "u", { untilEpochMs: providerSawAt + WINDOW_MS + 10_000, first: [first] });
    expectInterruptedThenFailed(asked, { providerSawAt, windowMs: WINDOW_MS, by: new RegExp(`^process ${pid} on host `) });
    expect((await b!.client.getLink("u")).refreshFailure?.reason).toMatch(/interrupted/i);
    expect(fake.replays).toBe(0);
    expect(fake.tokenRequests).toBe(1);
    expect(fake.errors).toEqual([]);
  });

  it("kill -9 of the holder inside the provider's grace window: another host finishes the key, 0 replays", async () => {
    if (typeof server === "string") return;
    fleet = await Fleet.start(server, { expiresInSec: 120, reuseGraceSec: 30 });
    const { fake } = fleet;
    const opts = { provider: { rotation_grace: "30s" } };
    const a = await fleet.daemon(opts);
    const b = await fleet.daemon(opts);
    await a.client.importLink("u", expiredSeed(fake));
    const held = fake.holdNextTokenRequest();
    const call = a.client.obtain("u", { minValidMs: 0, deadlineMs: 30_000 });
    await held.arrived;
    await a.kill();
    held.release();
    await held.answered;
    expect((await call).ok).toBe(false);

    const outcome = await b.client.obtain("u", { minValidMs: 0, deadlineMs: 30_000 });
    expect(outcome.ok, describeOutcome(outcome)).toBe(true);
    if (outcome.ok) expect(fake.isValid(outcome.token.accessToken)).toBe(true);
    expect(fake.replays).toBe(0);
    expect(fake.tokenRequests).toBe(2);
    expect(fake.errors).toEqual([]);
  });

  it("a host whose clock runs 10 minutes fast waits for a live lease instead of taking it over", async () => {
    if (typeof server === "string") return;
    fleet = await Fleet.start(server, { expiresInSec: 120 });
    const { fake } = fleet;
    const opts = { refresh: { lease_ttl: "15s", timeout: "10s" } };
    const a = await fleet.daemon(opts);
    const skewed = await fleet.daemon({ ...opts, nodeArgs: ["--import", SKEWED_HOST] });
    await a.client.importLink("u", expiredSeed(fake));
    const held = fake.holdNextTokenRequest();
    const first = a.client.obtain("u", { minValidMs: 0, deadlineMs: 30_000 });
    await held.arrived;
    // The skewed host sees the lease's expiry 10 minutes later in its own clock: the same instant, still ahead.
    const second = skewed.client.obtain("u", { minValidMs: 0, deadlineMs: 30_000 });
    await sleep(1_500);
    expect(fake.tokenRequests).toBe(1);
    held.release();
    const [x, y] = await Promise.all([first, second]);
    expect(x.ok, describeOutcome(x)).toBe(true);
    expect(y.ok, describeOutcome(y)).toBe(true);
    if (x.ok && y.ok) expect(y.token.accessToken).toBe(x.token.accessToken);
    expect(fake.tokenRequests).toBe(1);
    expect(fake.replays).toBe(0);
    expect(fake.errors).toEqual([]);
  });
});
