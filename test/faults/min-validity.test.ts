/**
 * docs/design.md §3 invariant 16: a min_valid_for the provider's tokens cannot
 * satisfy is answered MIN_VALIDITY_UNREACHABLE (with the issued lifetime),
 * after at most one refresh per token lifetime — not a refresh on every call.
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

const isUnreachable = (o: Outcome): boolean => !o.ok && o.code === grpc.status.FAILED_PRECONDITION && o.reason === "MIN_VALIDITY_UNREACHABLE";

it("tokens live 120 s, callers ask 5 min: 10 calls → at most one refresh, each answered MIN_VALIDITY_UNREACHABLE with issued_lifetime", async () => {
  rig = await FaultRig.start({ expiresInSec: 120 });
  const { fake } = rig;
  const d = await rig.daemon();
  await d.client.importLink("u", expiredSeed(fake));

  const outcomes: Outcome[] = [];
  for (let i = 0; i < 10; i++) outcomes.push(await d.client.obtain("u", { minValidMs: 5 * 60_000 }));
  const summary = outcomes.map(describeOutcome).join("\n");

  expect(fake.tokenRequests, summary).toBeLessThanOrEqual(1);
  // The call that refreshed may have been answered with the (too short) token; every other one is refused.
  const refused = isUnreachable(outcomes[0]!) ? outcomes : outcomes.slice(1);
  for (const o of refused) {
    expect(isUnreachable(o), summary).toBe(true);
    const lifetime = o.ok ? undefined : o.detail?.metadata.issued_lifetime;
    expect(lifetime, summary).toMatch(/^\d+s$/);
    expect(Number.parseInt(lifetime!, 10)).toBeGreaterThanOrEqual(110);
    expect(Number.parseInt(lifetime!, 10)).toBeLessThanOrEqual(120);
  }

  // A caller asking what the provider can give still gets the token already refreshed.
  const modest = await d.client.obtain("u", { minValidMs: 60_000 });
  expect(modest.ok, describeOutcome(modest)).toBe(true);
  if (modest.ok) expect(fake.isValid(modest.token.accessToken)).toBe(true);
  expect(fake.tokenRequests).toBe(1);
  expect(fake.refreshes).toBe(1);
  expect(fake.replays).toBe(0);
  expect(d.alive()).toBe(true);
  expect(fake.errors).toEqual([]);
});
