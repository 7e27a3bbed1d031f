/**
 * docs/design.md §3 invariant 4 (compare-and-swap commits, no last-writer-wins) and
 * invariant 3's "a response without refresh_token keeps the old one".
 */
import { systemClock } from "../../src/broker/clock.js";
import { describe, expect, it } from "vitest";
import { Reason } from "../../src/errors/index.js";
import { brokerError, harness, key, stored, type Harness } from "./harness.js";

const MIN_VALID = 60_000;

function rawRow(h: Harness, userId: string): Record<string, unknown> {
  return h.raw().prepare("SELECT * FROM links WHERE provider_id = 'fake' AND user_id = ?").get(userId) as Record<string, unknown>;
}

describe("compare-and-swap at the store (invariant 4)", () => {
  it("a stale commitRefresh (wrong version) changes nothing", async () => {
    const h = await harness();
    const k = key("alice");
    const { record: v1, tokens } = await h.seed(k, { accessTtlSec: 5 });
    // A legitimate commit moves the row on to version 2, keeping the refresh token.
    const v2 = await h.store.commitRefresh(k, { version: v1.version, refreshToken: tokens.refreshToken }, { accessToken: "at-v2", tokenType: "bearer", expiresAt: Date.now() + 3_600_000 }, Date.now());
    expect(v2?.version).toBe(v1.version + 1);
    const snapshot = rawRow(h, "alice");

    // A writer that read version 1 commits late: same refresh token, stale version.
    const stale = await h.store.commitRefresh(
      k,
      { version: v1.version, refreshToken: tokens.refreshToken },
      { accessToken: "at-stale", tokenType: "bearer", refreshToken: "rt-stale", expiresAt: Date.now() + 7_200_000 },
      Date.now(),
    );
    expect(stale).toBeUndefined();
    expect(rawRow(h, "alice")).toEqual(snapshot);
    const rec = await stored(h, k);
    expect(rec.accessToken).toBe("at-v2");
    expect(rec.refreshToken).toBe(tokens.refreshToken);
  });

  it("a commitRefresh expecting a refresh token that is no longer stored changes nothing", async () => {
    const h = await harness();
    const k = key("bob");
    const { record } = await h.seed(k, { accessTtlSec: 5 });
    const snapshot = rawRow(h, "bob");
    expect(
      await h.store.commitRefresh(k, { version: record.version, refreshToken: "some-other-refresh-token" }, { accessToken: "x", tokenType: "bearer", refreshToken: "y", expiresAt: null }, Date.now()),
    ).toBeUndefined();
    expect(rawRow(h, "bob")).toEqual(snapshot);
  });
});

describe("compare-and-swap in the engine (invariant 4)", () => {
  it("a row re-imported while the refresh is in flight wins; the engine's commit is discarded", async () => {
    const h = await harness();
    const k = key("carol");
    const { tokens: old } = await h.seed(k, { accessTtlSec: 5 });
    const imported = h.fake.issue({ accessTtlSec: 3600 });
    h.secrets.add(imported.accessToken).add(imported.refreshToken);
    let importedVersion = -1;
    h.onRespond = async (ctx) => {
      expect(ctx.outcome).toBe("issued"); // the provider did rotate for the engine
      const w = await h.store.put(
        k,
        { accessToken: imported.accessToken, tokenType: "bearer", refreshToken: imported.refreshToken, expiresAt: imported.expiresAt, extra: { team: "blue" } },
        Date.now(),
      );
      importedVersion = w.version;
    };

    const got = await h.engine.obtain(k, MIN_VALID);

    expect(h.fake.refreshes).toBe(1);
    const engineIssued = h.issued[0]!;
    expect(got.accessToken).toBe(imported.accessToken);
    const rec = await stored(h, k);
    expect(rec.version).toBe(importedVersion);
    expect(rec.accessToken).toBe(imported.accessToken);
    expect(rec.refreshToken).toBe(imported.refreshToken);
    expect(rec.extra).toEqual({ team: "blue" });
    expect(rec.accessToken).not.toBe(engineIssued.accessToken);
    expect(rec.refreshToken).not.toBe(old.refreshToken);
    expect(rec.lastRefreshedAt).toBeNull(); // the import, not the engine's commit
    expect(rec.refreshFailure).toBeNull();
    // The next caller is served from the import without a provider call.
    const before = h.fake.tokenRequests;
    expect((await h.engine.obtain(k, MIN_VALID)).accessToken).toBe(imported.accessToken);
    expect(h.fake.tokenRequests).toBe(before);
  });

  it("a link deleted while the refresh is in flight stays deleted (LINK_NOT_FOUND, no resurrection)", async () => {
    const h = await harness();
    const k = key("dave");
    await h.seed(k, { accessTtlSec: 5 });
    h.onRespond = async () => {
      await h.store.delete(k);
    };
    await brokerError(h.engine.obtain(k, MIN_VALID), Reason.LINK_NOT_FOUND);
    expect(await h.store.get(k)).toBeUndefined();
  });

  it("a response without refresh_token (no rotation) keeps the stored refresh token", async () => {
    const h = await harness({ fake: { rotate: false } });
    const k = key("erin");
    const { record: seeded, tokens: old } = await h.seed(k, { accessTtlSec: 5 });
    await h.store.put(k, { accessToken: old.accessToken, tokenType: "bearer", refreshToken: old.refreshToken, expiresAt: old.expiresAt, extra: { org: "acme" } }, Date.now());

    const got = await h.engine.obtain(k, MIN_VALID);
    expect(got.accessToken).not.toBe(old.accessToken);
    expect(h.fake.isValid(got.accessToken)).toBe(true);
    const rec = await stored(h, k);
    expect(rec.version).toBe(seeded.version + 2);
    expect(rec.refreshToken).toBe(old.refreshToken);
    expect(rec.extra).toEqual({ org: "acme" });
    expect(rawRow(h, "erin").refresh_token).not.toBeNull();

    // And the kept refresh token still works for the next refresh: ten
    // minutes on (an engine whose clock is ahead), the 2-minute token expired.
    const later = h.newEngine({ clock: { now: () => Date.now() + 10 * 60_000, sleep: systemClock.sleep } });
    const again = await later.obtain(k, MIN_VALID);
    expect(h.fake.refreshes).toBe(2);
    expect(again.accessToken).not.toBe(got.accessToken);
    expect((await stored(h, k)).refreshToken).toBe(old.refreshToken);
  });
});
