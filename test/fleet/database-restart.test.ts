/**
 * PostgreSQL restarted under a fleet's storm (docs/design.md §3 invariant
 * 12, §4.5): while it is down callers get UNAVAILABLE / STORE_UNAVAILABLE
 * with a retry_after — never INTERNAL — and /healthz says not serving;
 * refreshes the provider already answered are held and commit when it is
 * back; the daemons recover by themselves, nothing lost, no replay.
 */
import * as grpc from "@grpc/grpc-js";
import { afterEach, describe, expect, it } from "vitest";
import { describeOutcome, type Outcome } from "../faults/support/broker-client.js";
import { expiredSeed, sleep } from "../faults/support/rig.js";
import { usePostgres } from "../support/postgres.js";
import { Fleet } from "./support/fleet.js";

// Its own cluster: this suite stops and starts the server.
const server = await usePostgres({ own: true });
const KEYS = 10;

let fleet: Fleet | undefined;
afterEach(async () => {
  await fleet?.close();
  fleet = undefined;
});

async function healthz(baseUrl: string | undefined): Promise<number> {
  const res = await fetch(`${baseUrl}/healthz`);
  await res.text();
  return res.status;
}

async function until(what: string, ms: number, check: () => Promise<boolean>): Promise<void> {
  const end = Date.now() + ms;
  while (!(await check())) {
    if (Date.now() > end) throw new Error(`timed out waiting for ${what}`);
    await sleep(100);
  }
}

describe.skipIf(typeof server === "string")(`PostgreSQL restarted during a storm${typeof server === "string" ? ` (${server})` : ""}`, () => {
  it("UNAVAILABLE/STORE_UNAVAILABLE while down, never INTERNAL; held commits land; the daemons recover without restart; 0 replays", async () => {
    if (typeof server === "string" || server.control === undefined) return;
    const control = server.control;
    fleet = await Fleet.start(server, { expiresInSec: 120 });
    const { fake } = fleet;
    const hosts = [await fleet.daemon({ http: true }), await fleet.daemon({ http: true })];
    const users = Array.from({ length: KEYS }, (_, i) => `user-${i}`);
    for (const u of users) await hosts[0]!.client.importLink(u, expiredSeed(fake));
    for (const h of hosts) expect(await healthz(h.serving.httpBaseUrl)).toBe(200);

    // Hold the first refresh at the provider, stop the database, then let the provider answer: its rotated
    // token can only be kept in memory until the database is back.
    const held = fake.holdNextTokenRequest();
    const storm: Array<Promise<Outcome>> = [];
    for (const h of hosts) for (const u of users) storm.push(h.client.obtain(u, { minValidMs: 0, deadlineMs: 8_000 }));
    await held.arrived;
    await control.stop();
    held.release();
    await held.answered;

    const during: Outcome[] = [];
    for (const h of hosts) for (const u of users) during.push(await h.client.obtain(u, { minValidMs: 0, deadlineMs: 5_000 }));
    const first = await Promise.all(storm);
    for (const o of [...first, ...during]) {
      if (o.ok) {
        expect(fake.isValid(o.token.accessToken)).toBe(true);
        continue;
      }
      expect(o.code, describeOutcome(o)).not.toBe(grpc.status.INTERNAL);
      if (o.code === grpc.status.UNAVAILABLE) expect(o.reason, describeOutcome(o)).toBe("STORE_UNAVAILABLE");
    }
    expect(during.filter((o) => !o.ok && o.code === grpc.status.UNAVAILABLE && o.reason === "STORE_UNAVAILABLE").length).toBeGreaterThan(0);
    for (const h of hosts) await until("/healthz 503", 10_000, async () => (await healthz(h.serving.httpBaseUrl)) === 503);

    await control.start();
    for (const h of hosts) await until("/healthz 200", 20_000, async () => (await healthz(h.serving.httpBaseUrl)) === 200);

    // Every link answers again from every host, with one token per link across hosts; the refresh the
    // provider answered while the database was down was committed (no replay of its spent token).
    for (const u of users) {
      const answers = await Promise.all(hosts.map((h) => h.client.obtain(u, { minValidMs: 0, deadlineMs: 20_000 })));
      const seen = new Set<string>();
      for (const o of answers) {
        expect(o.ok, `${u}: ${describeOutcome(o)}`).toBe(true);
        if (!o.ok) continue;
        expect(fake.isValid(o.token.accessToken), `${u}: an answer the provider no longer honours`).toBe(true);
        seen.add(o.token.accessToken);
      }
      expect(seen.size, u).toBe(1);
      for (const h of hosts) expect((await h.client.getLink(u)).refreshFailure, u).toBeUndefined();
    }
    expect(fake.replays).toBe(0);
    // Each link refreshed once (before, during or after the outage), none twice.
    expect(fake.refreshes).toBe(KEYS);
    for (const h of hosts) {
      expect(h.alive()).toBe(true);
      expect(h.serving.output()).not.toMatch(/"level":50[^\n]*"msg":"internal error/);
    }
    expect(fake.errors).toEqual([]);
  }, 120_000);
});
