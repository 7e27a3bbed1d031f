/**
 * A fleet on one PostgreSQL (docs/design.md §4.5): 4 daemon processes, 32
 * callers on each asking for each of 20 links whose tokens expire at once.
 * Each caller asks for every link in turn. Exactly one provider refresh per link per round, no replay, and every
 * host hands out the same token for a link — over 3 rounds.
 */
import { afterEach, describe, expect, it } from "vitest";
import { usePostgres } from "../support/postgres.js";
import { expiredSeed, sleep } from "../faults/support/rig.js";
import { describeOutcome, remainingMs } from "../faults/support/broker-client.js";
import { Fleet } from "./support/fleet.js";

const server = await usePostgres();
const HOSTS = 4;
const CALLERS = 32;
const KEYS = 20;
const ROUNDS = 3;
const LIFETIME_SEC = 15;

let fleet: Fleet | undefined;
afterEach(async () => {
  await fleet?.close();
  fleet = undefined;
});

describe.skipIf(typeof server === "string")(`a fleet on PostgreSQL${typeof server === "string" ? ` (${server})` : ""}`, () => {
  it(`${HOSTS} daemons × ${CALLERS} callers × ${KEYS} keys expiring at once: ${KEYS} refreshes, 0 replays, one token per key, ${ROUNDS} rounds`, async () => {
    if (typeof server === "string") return;
    fleet = await Fleet.start(server, { expiresInSec: LIFETIME_SEC });
    const { fake } = fleet;
    const hosts = await fleet.daemons(HOSTS);
    const users = Array.from({ length: KEYS }, (_, i) => `user-${i}`);
    for (const u of users) await hosts[0]!.client.importLink(u, expiredSeed(fake));

    for (let round = 1; round <= ROUNDS; round++) {
      const before = fake.refreshes;
      // Each caller asks for every link, one after another, starting at a different one.
      const callers = hosts.flatMap((h, hi) =>
        Array.from({ length: CALLERS }, async (_, ci) => {
          const got = [];
          for (let k = 0; k < KEYS; k++) {
            const u = users[(ci + k) % KEYS]!;
            got.push({ u, hi, outcome: await h.client.obtain(u, { minValidMs: 0, deadlineMs: 20_000 }) });
          }
          return got;
        }),
      );
      const results = (await Promise.all(callers)).flat();
      console.log(`round ${round}: ${results.length} calls, slowest ${Math.round(Math.max(...results.map((r) => r.outcome.ms)))} ms`);
      const tokens = new Map<string, Set<string>>();
      for (const { u, outcome } of results) {
        expect(outcome.ok, `round ${round} ${u}: ${describeOutcome(outcome)}`).toBe(true);
        if (!outcome.ok) continue;
        expect(fake.isValid(outcome.token.accessToken), `round ${round} ${u}: remaining ${remainingMs(outcome.token)} ms`).toBe(true);
        let set = tokens.get(u);
        if (set === undefined) tokens.set(u, (set = new Set()));
        set.add(outcome.token.accessToken);
      }
      expect(results).toHaveLength(HOSTS * CALLERS * KEYS);
      expect(fake.refreshes - before, `round ${round}`).toBe(KEYS);
      for (const u of users) expect(tokens.get(u)?.size, `round ${round}: tokens handed out for ${u}`).toBe(1);
      expect(fake.replays).toBe(0);
      // Let every token expire so the next round storms again.
      if (round < ROUNDS) await sleep(LIFETIME_SEC * 1000 + 200);
    }
    expect(fake.errors).toEqual([]);
    for (const h of hosts) expect(h.alive()).toBe(true);
  }, 180_000);
});
