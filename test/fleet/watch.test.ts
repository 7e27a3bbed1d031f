/**
 * WatchAccessToken across two hosts on one PostgreSQL database (issue 22
 * item 3; docs/design.md §3.4): 10 s tokens watched for 45 s on both hosts —
 * every rotation delivered to every watcher, each valid for min_valid_for
 * when it arrived, no gap, exactly one provider refresh per rotation (the
 * engine's lease decides who refreshes; the other host learns of the new
 * token through LISTEN/NOTIFY). Then an unlink on one host ends the other
 * host's stream with LINK_NOT_FOUND.
 */
import { afterEach, describe, expect, it } from "vitest";
import { usePostgres } from "../support/postgres.js";
import { expectUnbrokenRotations, watch, type Watcher } from "../support/watch.js";
import { Fleet } from "./support/fleet.js";

const server = await usePostgres();
const MIN_VALID_MS = 3_000;

let fleet: Fleet | undefined;
afterEach(async () => {
  await fleet?.close();
  fleet = undefined;
});

describe.skipIf(typeof server === "string")(`WatchAccessToken on two PostgreSQL hosts${typeof server === "string" ? ` (${server})` : ""}`, () => {
  it("10 s tokens watched for 45 s on both hosts: every rotation delivered, no gap, one provider refresh per rotation; an unlink on one host ends the other's stream", { timeout: 120_000 }, async () => {
    if (typeof server === "string") return;
    fleet = await Fleet.start(server, { expiresInSec: 10 });
    const { fake } = fleet;
    const [a, b] = [await fleet.daemon(), await fleet.daemon()];
    const seed = fake.issue({ accessTtlSec: 10 });
    await a!.client.importLink("u", seed);
    const before = fake.refreshes;
    const req = { userId: "u", providerId: "fake", minValidForMs: MIN_VALID_MS };
    const watchers: Array<[string, Watcher]> = [
      ["a grpc", watch("grpc", { target: a!.serving.unixTarget! }, req)],
      ["b grpc", watch("grpc", { target: b!.serving.unixTarget! }, req)],
      ["b grpc 2", watch("grpc", { target: b!.serving.unixTarget! }, req)],
    ];
    await new Promise((r) => setTimeout(r, 45_000));
    const stoppedAt = Date.now();
    const refreshes = fake.refreshes - before;
    const sequence = expectUnbrokenRotations(watchers, seed.accessToken, MIN_VALID_MS, stoppedAt);
    expect(sequence.length - 1).toBeGreaterThanOrEqual(8);
    expect(refreshes, "one provider refresh per rotation").toBe(sequence.length - 1);
    expect(fake.replays).toBe(0);

    const unlinkedAt = Date.now();
    await a!.client.unlink("u");
    for (const [name, w] of watchers) {
      const end = await w.ended;
      expect(end, name).toMatchObject({ code: 5, reason: "LINK_NOT_FOUND" });
      expect(end.at - unlinkedAt, name).toBeLessThan(3_000);
    }
    const output = a!.serving.output() + b!.serving.output();
    for (const t of fake.issuedTokens()) expect(output.includes(t)).toBe(false);
  });
});
