/**
 * docs/design.md §3 invariant 10: the store's directory is a 4 MiB tmpfs that
 * a filler file fills right after the daemon's refresh request reached the
 * provider. Answers meanwhile are the token or STORE_UNAVAILABLE (never
 * INTERNAL), the daemon stays up, and once space is freed the rotated token
 * is committed: the next refresh presents it. Skipped, with the reason, where
 * a tmpfs cannot be mounted (not root, or no mount permission).
 */
import * as grpc from "@grpc/grpc-js";
import { rmSync } from "node:fs";
import { afterAll, afterEach, expect, it } from "vitest";
import { describeOutcome, type Outcome } from "./support/broker-client.js";
import { FaultRig, expectRotatedTokenCommitted, expiredSeed, sleep } from "./support/rig.js";
import { mountTmpfs } from "./support/tmpfs.js";

const tmpfs = mountTmpfs("4m");
if ("skip" in tmpfs) console.warn(`disk-full.test.ts skipped: ${tmpfs.skip}`);
afterAll(() => {
  if (!("skip" in tmpfs)) tmpfs.unmount();
});

let rig: FaultRig | undefined;
afterEach(async () => {
  await rig?.close();
  rig = undefined;
});

function expectTokenOrStoreUnavailable(r: FaultRig, o: Outcome): void {
  const what = describeOutcome(o);
  if (o.ok) {
    expect(r.fake.isValid(o.token.accessToken), what).toBe(true);
    return;
  }
  expect(o.code, what).toBe(grpc.status.UNAVAILABLE);
  expect(o.reason, what).toBe("STORE_UNAVAILABLE");
  expect(o.detail?.retry?.retryDelay, what).toBeDefined();
}

it("the disk fills during a refresh: token or STORE_UNAVAILABLE meanwhile, the daemon stays up, the rotated token is committed once space is freed", async (ctx) => {
  if ("skip" in tmpfs) return ctx.skip(tmpfs.skip);
  rig = await FaultRig.start({ expiresInSec: 120 });
  const { fake } = rig;
  const d = await rig.daemon({ storePath: `${tmpfs.dir}/tb.db` });
  await d.client.importLink("other", fake.issue({ accessTtlSec: 3600 }));
  expect((await d.client.obtain("other")).ok).toBe(true);
  await d.client.importLink("u", expiredSeed(fake));

  const presented: Array<string | undefined> = [];
  let rotated: string | undefined;
  fake.beforeRespond = async (c) => {
    presented.push(c.presentedRefreshToken);
    rotated ??= c.issued?.refreshToken;
  };
  fake.expiresInSec = 3; // expired again by the time space is freed
  const held = fake.holdNextTokenRequest();
  const refreshing = d.client.obtain("u", { minValidMs: 0, deadlineMs: 10_000 });
  await held.arrived;
  const filler = tmpfs.fill();
  const filledAt = performance.now();
  held.release();
  await held.answered;
  fake.expiresInSec = 120;

  const outcomes = [await refreshing];
  for (let i = 0; i < 3; i++) {
    await sleep(300);
    outcomes.push(await d.client.obtain("u", { minValidMs: 0, deadlineMs: 10_000 }));
    outcomes.push(await d.client.obtain("other", { deadlineMs: 10_000 }));
  }
  for (const o of outcomes) expectTokenOrStoreUnavailable(rig, o);
  expect(d.alive()).toBe(true);

  rmSync(filler);
  // A fresh process knows only what reached the database: its refresh presents the rotated token
  // (it may have to wait for the first daemon's commit retry to find the freed space).
  const fresh = await rig.daemon({ storePath: `${tmpfs.dir}/tb.db` });
  await sleep(Math.max(0, 3_200 - (performance.now() - filledAt))); // the 3 s token has expired
  await expectRotatedTokenCommitted(rig, "u", fresh, [d], presented, rotated);
});
