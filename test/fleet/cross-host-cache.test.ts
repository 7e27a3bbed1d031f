/**
 * The decoded-record cache across hosts (docs/design.md §4.5): host A
 * serves a link from its cache; host B refreshes it; A's next answer is B's
 * new token — within one NOTIFY round trip, and with LISTEN off (the cache
 * is off then, so every read is re-validated against the database).
 */
import { afterEach, describe, expect, it } from "vitest";
import { describeOutcome, remainingMs } from "../faults/support/broker-client.js";
import { sleep } from "../faults/support/rig.js";
import { usePostgres } from "../support/postgres.js";
import { Fleet } from "./support/fleet.js";

const server = await usePostgres();

let fleet: Fleet | undefined;
afterEach(async () => {
  await fleet?.close();
  fleet = undefined;
});

/** A's answer after B's refresh, asked at once and then every 20 ms for up to `ms`. */
async function firstNewAnswer(ask: () => Promise<string | undefined>, want: string, ms: number): Promise<{ got: string | undefined; tries: number }> {
  const end = Date.now() + ms;
  let tries = 0;
  let got: string | undefined;
  do {
    tries++;
    got = await ask();
    if (got === want) break;
    await sleep(20);
  } while (Date.now() < end);
  return { got, tries };
}

describe.skipIf(typeof server === "string")(`the record cache across hosts on PostgreSQL${typeof server === "string" ? ` (${server})` : ""}`, () => {
  it.each([
    ["LISTEN on: one NOTIFY round trip", true, 500],
    ["LISTEN off: at once, re-read from the database", false, 0],
  ])("%s", async (_name, listen, withinMs) => {
    if (typeof server === "string") return;
    fleet = await Fleet.start(server, { expiresInSec: 600 });
    const { fake } = fleet;
    const a = await fleet.daemon({ postgres: { listen } });
    const b = await fleet.daemon({ postgres: { listen } });
    // A 60-second token: good for A's callers (min 0), not for B's caller who asks for 2 minutes.
    const seed = fake.issue({ accessTtlSec: 60 });
    await a.client.importLink("u", { ...seed, expiresAt: Date.now() + 60_000 });
    const ask = async (): Promise<string | undefined> => {
      const o = await a.client.obtain("u", { minValidMs: 0 });
      return o.ok ? o.token.accessToken : undefined;
    };
    expect(await ask()).toBe(seed.accessToken);
    expect(await ask()).toBe(seed.accessToken); // now from A's cache

    const refreshed = await b.client.obtain("u", { minValidMs: 120_000 });
    expect(refreshed.ok, describeOutcome(refreshed)).toBe(true);
    if (!refreshed.ok) return;
    expect(remainingMs(refreshed.token)).toBeGreaterThan(120_000);
    expect(refreshed.token.accessToken).not.toBe(seed.accessToken);

    const { got, tries } = await firstNewAnswer(ask, refreshed.token.accessToken, withinMs);
    expect(got).toBe(refreshed.token.accessToken);
    if (!listen) expect(tries).toBe(1);
    expect(fake.refreshes).toBe(1);
    expect(fake.replays).toBe(0);
    expect(fake.errors).toEqual([]);
  });
});
