/**
 * The contract of ErrorDetail.metadata (proto/tokenbroker/v1/errors.proto):
 * a caller whose deadline passes while a refresh of its link is running — in
 * another process or in its own — gets DEADLINE_EXCEEDED with metadata
 * refresh_in_progress "true", and the refresh still completes and is stored.
 * The daemon has to answer a little before the deadline: a status sent at
 * the deadline loses the race with the client's own timer, which reports a
 * bare DEADLINE_EXCEEDED without the detail.
 */
import * as grpc from "@grpc/grpc-js";
import { afterEach, expect, it } from "vitest";
import { describeOutcome, type Outcome } from "./support/broker-client.js";
import { FaultRig, expiredSeed } from "./support/rig.js";

let rig: FaultRig | undefined;
afterEach(async () => {
  await rig?.close();
  rig = undefined;
});

function expectRefreshInProgress(o: Outcome): void {
  const what = describeOutcome(o);
  expect(o.ok, what).toBe(false);
  if (o.ok) return;
  expect(o.code, what).toBe(grpc.status.DEADLINE_EXCEEDED);
  expect(o.detail?.metadata.refresh_in_progress, what).toBe("true");
  expect(o.ms, what).toBeLessThan(2_000);
}

it("1 s deadlines while another process's (and this process's) refresh is held: DEADLINE_EXCEEDED, refresh_in_progress; the refresh is then stored", async () => {
  rig = await FaultRig.start({ expiresInSec: 120 });
  const { fake } = rig;
  const a = await rig.daemon({ refresh: { timeout: "10s" } });
  const b = await rig.daemon({ refresh: { timeout: "10s" } });
  await a.client.importLink("u", expiredSeed(fake));
  // Connect b's client now: the daemon counts the deadline from when the call reaches it, so a
  // connection set up inside the timed call would eat the margin it answers early by.
  expect((await b.client.obtain("nobody")).ok).toBe(false);

  const held = fake.holdNextTokenRequest();
  const refreshing = a.client.obtain("u", { deadlineMs: 30_000 });
  await held.arrived;

  expectRefreshInProgress(await b.client.obtain("u", { deadlineMs: 1_000 }));
  expectRefreshInProgress(await a.client.obtain("u", { deadlineMs: 1_000 }));

  held.release();
  const first = await refreshing;
  expect(first.ok, describeOutcome(first)).toBe(true);
  if (!first.ok) return;
  expect(fake.isValid(first.token.accessToken)).toBe(true);

  // Stored: both processes hand it out without asking the provider again.
  for (const d of [b, a]) {
    const again = await d.client.obtain("u");
    expect(again.ok, describeOutcome(again)).toBe(true);
    if (again.ok) expect(again.token.accessToken).toBe(first.token.accessToken);
  }
  expect(fake.tokenRequests).toBe(1);
  expect(fake.replays).toBe(0);
  expect(a.alive() && b.alive()).toBe(true);
  expect(fake.errors).toEqual([]);
});
