/**
 * docs/design.md §3.4 across hosts: two daemons, each another host (its own
 * UTS namespace and hostname), on one PostgreSQL database, both using the
 * same links and both scheduling their background refreshes. The lease and
 * the re-read after it decide: exactly one provider refresh per rotation,
 * no refresh token ever presented twice, and callers on both hosts served
 * tokens the provider accepts throughout.
 */
import { afterEach, describe, expect, it } from "vitest";
import { describeOutcome, remainingMs } from "../faults/support/broker-client.js";
import { sleep } from "../faults/support/rig.js";
import { usePostgres } from "../support/postgres.js";
import { Hosts, canUnshareUts, skipReason, type Host } from "./support/hosts.js";

const server = await usePostgres();
const unshare = canUnshareUts();

let hosts: Hosts | undefined;
afterEach(async () => {
  await hosts?.close();
  hosts = undefined;
});

const LIFETIME_SEC = 6;
const RUN_MS = 20_000;

describe.skipIf(typeof server === "string" || !unshare)(`refreshing ahead on 2 hosts${skipReason(server, unshare)}`, () => {
  it("2 hosts using the same links, both refreshing ahead: exactly one provider refresh per rotation", async () => {
    if (typeof server === "string") return;
    hosts = await Hosts.start(server, { expiresInSec: LIFETIME_SEC, latencyMs: 30 });
    const fake = hosts.fake;
    const refresh = { keep_fresh_for: "24h" };
    const [a, b] = (await Promise.all([hosts.host("host-a", { refresh }), hosts.host("host-b", { refresh })])) as [Host, Host];
    const users = Array.from({ length: 20 }, (_, i) => `u${i}`);
    const presented = new Map<string, number>();
    fake.beforeRespond = async (ctx) => {
      if (ctx.presentedRefreshToken !== undefined) presented.set(ctx.presentedRefreshToken, (presented.get(ctx.presentedRefreshToken) ?? 0) + 1);
    };
    for (const u of users) {
      const t = fake.issue({ accessTtlSec: LIFETIME_SEC });
      await a.client.importLink(u, { accessToken: t.accessToken, refreshToken: t.refreshToken, expiresAt: Date.now() + LIFETIME_SEC * 1000 });
    }
    const failures: string[] = [];
    const end = Date.now() + RUN_MS;
    let calls = 0;
    await Promise.all(
      [a, b].flatMap((h) =>
        [0, 1].map(async (c) => {
          for (let i = c; Date.now() < end; i += 2) {
            const u = users[i % users.length] as string;
            const o = await h.client.obtain(u, { minValidMs: 500, deadlineMs: 10_000 });
            calls++;
            if (!o.ok) failures.push(`${h.name} ${u}: ${describeOutcome(o)}`);
            // Valid for min_valid_for when served (whether another host's refresh has replaced it since is the simulation's check (c)).
            else if (remainingMs(o.token, Date.now() - o.ms) < 500 - 50) failures.push(`${h.name} ${u}: served a token with ${remainingMs(o.token, Date.now() - o.ms)} ms left when asked`);
            await sleep(5);
          }
        }),
      ),
    );
    expect(failures.slice(0, 5)).toEqual([]);
    expect(fake.replays).toBe(0);
    // Every request issued tokens (a request still on its way when the run ended is not yet counted as issued).
    expect(fake.refreshes).toBeGreaterThanOrEqual(fake.tokenRequests - fake.inFlight);
    expect([...presented.entries()].filter(([, n]) => n > 1)).toEqual([]);
    // One rotation per link every 75–80 % of 6 s over 20 s: about 4 — never one per host.
    const per = fake.refreshes / users.length;
    console.log(`2 hosts: ${calls} calls, ${fake.refreshes} refreshes for ${users.length} links in ${RUN_MS / 1000} s (${per.toFixed(2)} per link)`);
    expect(per).toBeGreaterThanOrEqual(3);
    expect(per).toBeLessThanOrEqual(5.5);
  }, 90_000);
});
