import { describe, expect, it } from "vitest";
import { FakeSealer } from "../fake-sealer.js";
import { KEY, T0, tokens } from "../helpers.js";
import type { StoreFactory, TestDatabase } from "./factory.js";

const fresh = { accessToken: "at-2", tokenType: "Bearer", refreshToken: "rt-2", expiresAt: T0 + 7_200_000 };

/** The compare-and-swap commit and failure recording (docs/design.md §4.2), for any LinkStore. */
export function casContract(f: StoreFactory): void {
  describe(`${f.name}: commitRefresh (compare-and-swap)`, () => {
    it("commits when version and refresh token match", async () => {
      const db = await f.fresh();
      const store = await db.links();
      const before = await store.put(KEY, tokens(), T0);
      const after = await store.commitRefresh(KEY, { version: 1, refreshToken: "rt-1" }, { ...fresh, extra: { scope: "repo user" } }, T0 + 100);
      expect(after).toEqual({
        ...before,
        version: 2,
        accessToken: "at-2",
        refreshToken: "rt-2",
        expiresAt: T0 + 7_200_000,
        extra: { scope: "repo user" },
        updatedAt: T0 + 100,
        lastRefreshedAt: T0 + 100,
      });
      expect(await store.get(KEY)).toEqual(after);
      expect((await db.raw.link(KEY))["refresh_token_digest"]).toBe(new FakeSealer().digest("rt-2"));
    });

    it("a stale version changes nothing and returns undefined", async () => {
      const db = await f.fresh();
      const store = await db.links();
      await store.put(KEY, tokens(), T0);
      await store.commitRefresh(KEY, { version: 1, refreshToken: "rt-1" }, fresh, T0 + 1);
      const snapshot = await db.raw.link(KEY);
      // Same refresh token as stored ("rt-2"), but the version is stale.
      expect(await store.commitRefresh(KEY, { version: 1, refreshToken: "rt-2" }, { ...fresh, accessToken: "x", refreshToken: "rt-x" }, T0 + 2)).toBeUndefined();
      expect(await db.raw.link(KEY)).toEqual(snapshot);
    });

    it("a refresh token that is no longer stored changes nothing", async () => {
      const db = await f.fresh();
      const store = await db.links();
      await store.put(KEY, tokens(), T0);
      const snapshot = await db.raw.link(KEY);
      expect(await store.commitRefresh(KEY, { version: 1, refreshToken: "rt-other" }, fresh, T0 + 1)).toBeUndefined();
      expect(await db.raw.link(KEY)).toEqual(snapshot);
    });

    it("a link without a refresh token never matches, nor does a missing link", async () => {
      const store = await (await f.fresh()).links();
      expect(await store.commitRefresh(KEY, { version: 1, refreshToken: "rt-1" }, fresh, T0)).toBeUndefined();
      await store.put(KEY, tokens({ refreshToken: "" }), T0);
      expect(await store.commitRefresh(KEY, { version: 1, refreshToken: "" }, fresh, T0 + 1)).toBeUndefined();
    });

    it("keeps the stored refresh token and extra when the response omits them", async () => {
      const db = await f.fresh();
      const sealer = new FakeSealer();
      const store = await db.links(sealer);
      await store.put(KEY, tokens({ extra: { scope: "repo" } }), T0);
      const rawBefore = await db.raw.link(KEY);
      const opens = sealer.calls.open;
      const rec = await store.commitRefresh(
        KEY,
        { version: 1, refreshToken: "rt-1" },
        { accessToken: "at-2", tokenType: "bearer", expiresAt: null },
        T0 + 5,
      );
      expect(rec).toMatchObject({ version: 2, accessToken: "at-2", tokenType: "bearer", refreshToken: "rt-1", expiresAt: null, extra: { scope: "repo" } });
      expect(sealer.calls.open - opens).toBe(1); // only the kept extra is opened, the refresh token is not
      const rawAfter = await db.raw.link(KEY);
      expect(rawAfter["refresh_token"]).toEqual(rawBefore["refresh_token"]);
      expect(rawAfter["refresh_token_digest"]).toEqual(rawBefore["refresh_token_digest"]);
      expect(rawAfter["extra"]).toEqual(rawBefore["extra"]);
      expect(await store.get(KEY)).toEqual(rec);
      // The kept refresh token is still the CAS expectation for the next refresh.
      expect(await store.commitRefresh(KEY, { version: 2, refreshToken: "rt-1" }, fresh, T0 + 6)).toMatchObject({ version: 3, refreshToken: "rt-2" });
    });

    it("keeps the account through refreshes; a refresh with scopes replaces them, one without keeps them; a heal keeps both; a put replaces both", async () => {
      const db = await f.fresh();
      const store = await db.links();
      await store.put(KEY, tokens({ account: "octocat", grantedScopes: ["repo", "read:org"] }), T0);
      const kept = await store.commitRefresh(KEY, { version: 1, refreshToken: "rt-1" }, fresh, T0 + 1);
      expect([kept?.account, kept?.grantedScopes]).toEqual(["octocat", ["repo", "read:org"]]);
      expect(await store.get(KEY)).toEqual(kept);
      const narrowed = await store.commitRefresh(KEY, { version: 2, refreshToken: "rt-2" }, { ...fresh, refreshToken: "rt-3", grantedScopes: ["repo"] }, T0 + 2);
      expect([narrowed?.account, narrowed?.grantedScopes]).toEqual(["octocat", ["repo"]]);
      expect(await store.get(KEY)).toEqual(narrowed);
      const raw = await db.raw.link(KEY);
      expect([raw["account"], raw["granted_scopes"]]).toEqual(["octocat", "repo"]);
      // A failure and its heal keep them too.
      expect(await store.recordFailure(KEY, "rt-3", "invalid_grant", T0 + 3)).toBe(true);
      const healed = await store.commitRefresh(KEY, { version: 3, refreshToken: "rt-3" }, { ...fresh, refreshToken: "rt-4" }, T0 + 4);
      expect([healed?.account, healed?.grantedScopes]).toEqual(["octocat", ["repo"]]);
      const listed = await store.list({ limit: 10 });
      expect(listed.map((m) => [m.account, m.grantedScopes])).toEqual([["octocat", ["repo"]]]);
      // A refresh answering no scopes at all ("scope": "" is none granted) is not "omitted".
      const none = await store.commitRefresh(KEY, { version: healed?.version ?? 0, refreshToken: "rt-4" }, { ...fresh, refreshToken: "rt-5", grantedScopes: [] }, T0 + 5);
      expect(none?.grantedScopes).toEqual([]);
      expect((await store.list({ limit: 10 }))[0]?.grantedScopes).toEqual([]);
      // A re-link (put) without them knows neither.
      const relinked = await store.put(KEY, tokens(), T0 + 6);
      expect([relinked.account, relinked.grantedScopes]).toEqual([null, null]);
      expect(await store.get(KEY)).toEqual(relinked);
    });

    it("refuses granted scopes that cannot be stored, changing nothing", async () => {
      const db = await f.fresh();
      const store = await db.links();
      await expect(store.put(KEY, tokens({ grantedScopes: ["repo user"] }), T0)).rejects.toThrow(/grantedScopes/);
      await expect(store.put(KEY, tokens({ grantedScopes: [""] }), T0)).rejects.toThrow(/grantedScopes/);
      expect(await store.get(KEY)).toBeUndefined();
    });

    it("opens nothing when every value is supplied", async () => {
      const sealer = new FakeSealer();
      const store = await (await f.fresh()).links(sealer);
      await store.put(KEY, tokens(), T0);
      const opens = sealer.calls.open;
      await store.commitRefresh(KEY, { version: 1, refreshToken: "rt-1" }, { ...fresh, extra: {} }, T0 + 1);
      expect(sealer.calls.open).toBe(opens);
    });

    it("matches refresh tokens whose digest was made under an older key", async () => {
      const db = await f.fresh();
      await (await db.links(new FakeSealer(["k1"]))).put(KEY, tokens(), T0);
      const rotated = await db.links(new FakeSealer(["k2", "k1"]));
      const rec = await rotated.commitRefresh(KEY, { version: 1, refreshToken: "rt-1" }, fresh, T0 + 1);
      expect(rec?.refreshToken).toBe("rt-2");
      expect((await db.raw.link(KEY))["refresh_token_digest"]).toMatch(/^k2:/);
    });

    it("clears the lease", async () => {
      const store = await (await f.fresh()).links();
      await store.put(KEY, tokens(), T0);
      const claim = await store.claimLease(KEY, "me", 30_000, null);
      expect(claim.claimed).toBe(true);
      const rec = await store.commitRefresh(KEY, { version: 1, refreshToken: "rt-1" }, fresh, T0 + 1);
      expect(await store.readLease(KEY)).toBeNull();
      expect(await store.get(KEY)).toEqual(rec);
    });
  });

  describe(`${f.name}: recordFailure`, () => {
    it("succeeds once: clears the refresh token (NULL), keeps its digest, seals the reason, bumps the version, releases the lease", async () => {
      const db = await f.fresh();
      const store = await db.links();
      await store.put(KEY, tokens(), T0);
      await store.claimLease(KEY, "me", 30_000, null);
      expect(await store.recordFailure(KEY, "rt-1", "invalid_grant: token revoked", T0 + 10)).toBe(true);
      expect(await store.readLease(KEY)).toBeNull();
      const rec = await store.get(KEY);
      expect(rec).toMatchObject({
        version: 2,
        refreshToken: null,
        refreshFailure: { reason: "invalid_grant: token revoked", failedAt: T0 + 10 },
        accessToken: "at-1",
        updatedAt: T0 + 10,
      });
      const raw = await db.raw.link(KEY);
      expect(raw["refresh_token"]).toBeNull();
      expect(raw["refresh_token_digest"]).toBeNull();
      expect(raw["failed_digest"]).toBe(new FakeSealer().digest("rt-1"));
      expect(Buffer.isBuffer(raw["failure_reason"])).toBe(true);
      expect((raw["failure_reason"] as Buffer).toString("latin1")).not.toContain("invalid_grant");

      // Second call with the same old refresh token: nothing stored matches.
      expect(await store.recordFailure(KEY, "rt-1", "again", T0 + 20)).toBe(false);
      expect(await store.get(KEY)).toEqual(rec);
      const meta = await store.list({ limit: 10 });
      expect(meta[0]).toMatchObject({ hasRefreshToken: false, refreshFailure: { failedAt: T0 + 10 } });
    });

    it("with a stale refresh token after a successful commit: false, and the new token stays", async () => {
      const store = await (await f.fresh()).links();
      await store.put(KEY, tokens(), T0);
      const won = await store.commitRefresh(KEY, { version: 1, refreshToken: "rt-1" }, fresh, T0 + 1);
      expect(await store.recordFailure(KEY, "rt-1", "invalid_grant", T0 + 2)).toBe(false);
      expect(await store.get(KEY)).toEqual(won);
    });

    it("returns false for a missing link; an empty reason is stored as NULL", async () => {
      const db = await f.fresh();
      const store = await db.links();
      expect(await store.recordFailure(KEY, "rt-1", "x", T0)).toBe(false);
      await store.put(KEY, tokens(), T0);
      expect(await store.recordFailure(KEY, "rt-1", "", T0 + 1)).toBe(true);
      expect((await db.raw.link(KEY))["failure_reason"]).toBeNull();
      expect((await store.get(KEY))?.refreshFailure).toEqual({ reason: "", failedAt: T0 + 1 });
    });

    it("a failure is cleared by commitRefresh", async () => {
      // commitRefresh needs a stored refresh token, so store one with a failure
      // still recorded (as an older build or a manual edit could leave it).
      const db = await f.fresh();
      const store = await db.links();
      await store.put(KEY, tokens(), T0);
      const sealer = new FakeSealer();
      const reason = sealer.seal("old failure", { table: "links", column: "failure_reason", ...KEY });
      await db.raw.update({ failure_reason: reason, failed_at: T0 + 1 });
      expect((await store.get(KEY))?.refreshFailure).toEqual({ reason: "old failure", failedAt: T0 + 1 });
      const rec = await store.commitRefresh(KEY, { version: 1, refreshToken: "rt-1" }, fresh, T0 + 2);
      expect(rec?.refreshFailure).toBeNull();
      expect((await store.get(KEY))?.refreshFailure).toBeNull();
      expect((await db.raw.link(KEY))["failure_reason"]).toBeNull();
      expect((await db.raw.link(KEY))["failed_at"]).toBeNull();
    });
  });

  describe(`${f.name}: an answer heals a link failed for its send (failed_digest)`, () => {
    const failedDigest = async (db: TestDatabase): Promise<unknown> => (await db.raw.link(KEY))["failed_digest"];

    /** rt-1 was sent (the refresh read version 1), and the link was failed for it meanwhile. */
    async function failedForTheSend(db: TestDatabase) {
      const store = await db.links();
      await store.put(KEY, tokens(), T0);
      expect(await failedDigest(db)).toBeNull();
      expect(await store.recordFailure(KEY, "rt-1", "refresh interrupted", T0 + 10)).toBe(true);
      expect(await failedDigest(db)).toBe(new FakeSealer().digest("rt-1"));
      return store;
    }

    it("recordFailure keeps the digest of the token it cleared; the answer to that token commits on any instance and clears the failure", async () => {
      const db = await f.fresh();
      await failedForTheSend(db);
      // Another process (host) holds the late answer.
      const other = await db.links();
      const healed = await other.commitRefresh(KEY, { version: 1, refreshToken: "rt-1" }, fresh, T0 + 20);
      expect(healed).toMatchObject({ version: 3, accessToken: "at-2", refreshToken: "rt-2", refreshFailure: null, lastRefreshedAt: T0 + 20 });
      await db.settle(other);
      expect(await other.get(KEY)).toEqual(healed);
      const raw = await db.raw.link(KEY);
      expect(raw).toMatchObject({ failure_reason: null, failed_at: null, failed_digest: null, refresh_token_digest: new FakeSealer().digest("rt-2") });
      // An ordinary commit follows from the healed row.
      expect(await other.commitRefresh(KEY, { version: 3, refreshToken: "rt-2" }, { ...fresh, refreshToken: "rt-3" }, T0 + 30)).toMatchObject({ version: 4 });
    });

    it("an answer that did not rotate restores the token that was sent", async () => {
      const db = await f.fresh();
      const store = await failedForTheSend(db);
      const healed = await store.commitRefresh(KEY, { version: 1, refreshToken: "rt-1" }, { accessToken: "at-2", tokenType: "Bearer", expiresAt: null }, T0 + 20);
      expect(healed).toMatchObject({ version: 3, accessToken: "at-2", refreshToken: "rt-1", extra: { scope: "repo" }, refreshFailure: null });
      await db.settle(store);
      expect(await store.get(KEY)).toEqual(healed);
      expect(await db.raw.link(KEY)).toMatchObject({ refresh_token_digest: new FakeSealer().digest("rt-1"), failed_digest: null });
    });

    it("heals once: a second answer to the same send, or an answer to another token, changes nothing", async () => {
      const db = await f.fresh();
      const store = await failedForTheSend(db);
      expect(await store.commitRefresh(KEY, { version: 2, refreshToken: "rt-x" }, fresh, T0 + 20)).toBeUndefined();
      expect(await store.commitRefresh(KEY, { version: 1, refreshToken: "rt-1" }, fresh, T0 + 20)).toMatchObject({ version: 3 });
      const snapshot = await db.raw.link(KEY);
      expect(await store.commitRefresh(KEY, { version: 1, refreshToken: "rt-1" }, { ...fresh, accessToken: "at-again", refreshToken: "rt-again" }, T0 + 30)).toBeUndefined();
      expect(await db.raw.link(KEY)).toEqual(snapshot);
    });

    it.each([
      ["a re-link with a refresh token", tokens({ refreshToken: "rt-9" })],
      ["a re-link without one", tokens({ refreshToken: "" })],
    ])("is refused after %s (put clears failed_digest)", async (_name, relinked) => {
      const db = await f.fresh();
      const store = await failedForTheSend(db);
      await store.put(KEY, relinked, T0 + 15);
      expect(await failedDigest(db)).toBeNull();
      const snapshot = await db.raw.link(KEY);
      expect(await store.commitRefresh(KEY, { version: 1, refreshToken: "rt-1" }, fresh, T0 + 20)).toBeUndefined();
      expect(await db.raw.link(KEY)).toEqual(snapshot);
    });

    it("names only the token the last failure cleared: an older send does not heal a newer failure", async () => {
      const db = await f.fresh();
      const store = await db.links();
      await store.put(KEY, tokens(), T0);
      await store.commitRefresh(KEY, { version: 1, refreshToken: "rt-1" }, fresh, T0 + 1);
      expect(await store.recordFailure(KEY, "rt-2", "invalid_grant", T0 + 2)).toBe(true);
      expect(await store.commitRefresh(KEY, { version: 1, refreshToken: "rt-1" }, { ...fresh, refreshToken: "rt-3" }, T0 + 3)).toBeUndefined();
      expect(await store.commitRefresh(KEY, { version: 2, refreshToken: "rt-2" }, { ...fresh, refreshToken: "rt-3" }, T0 + 3)).toMatchObject({ version: 4, refreshToken: "rt-3" });
    });

    it("survives re-sealing under a new key: the digest stays as it was and still matches while its key is in the ring", async () => {
      const db = await f.fresh();
      await (await db.links(new FakeSealer(["k1"]))).put(KEY, tokens(), T0);
      expect(await (await db.links(new FakeSealer(["k1"]))).recordFailure(KEY, "rt-1", "refresh interrupted", T0 + 1)).toBe(true);
      const rotated = await db.open(new FakeSealer(["k2", "k1"]));
      expect(await rotated.keyring.reseal(undefined, 10)).toMatchObject({ scanned: 1 });
      expect(await rotated.keyring.countByKeyId()).toEqual(new Map([["k2", 3]]));
      // The token is gone, so nothing can re-make its digest under k2: it keeps naming k1.
      expect(await failedDigest(db)).toBe(new FakeSealer(["k1"]).digest("rt-1"));
      // With k1 retired it no longer matches: the link stays failed (re-link), as before heals existed.
      const retired = await db.links(new FakeSealer(["k2"]));
      expect(await retired.commitRefresh(KEY, { version: 1, refreshToken: "rt-1" }, fresh, T0 + 2)).toBeUndefined();
      const healed = await rotated.links.commitRefresh(KEY, { version: 1, refreshToken: "rt-1" }, fresh, T0 + 2);
      expect(healed).toMatchObject({ version: 3, refreshToken: "rt-2", refreshFailure: null });
      expect(await db.raw.link(KEY)).toMatchObject({ refresh_token_digest: new FakeSealer(["k2"]).digest("rt-2"), failed_digest: null });
    });
  });
}
