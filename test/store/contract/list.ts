import { beforeEach, describe, expect, it } from "vitest";
import type { LinkKey, LinkMeta, LinkStore, ListQuery } from "../../../src/store/link-store.js";
import { FakeSealer } from "../fake-sealer.js";
import { T0, tokens } from "../helpers.js";
import type { StoreFactory, TestDatabase } from "./factory.js";

const PROVIDERS = ["azure", "bitbucket", "github", "gitlab", "slack"];
const USERS = Array.from({ length: 50 }, (_, i) => `user-${String(i).padStart(3, "0")}`);

async function pageAll(store: LinkStore, query: Omit<ListQuery, "after" | "limit">, limit: number): Promise<{ all: LinkMeta[]; pages: number }> {
  const all: LinkMeta[] = [];
  let after: LinkKey | undefined;
  let pages = 0;
  for (;;) {
    const page = await store.list({ ...query, limit, ...(after === undefined ? {} : { after }) });
    pages++;
    all.push(...page);
    const last = page.at(-1);
    if (page.length < limit || last === undefined) return { all, pages };
    after = { providerId: last.providerId, userId: last.userId };
  }
}

const keyOf = (m: LinkMeta) => `${m.providerId}/${m.userId}`;

/** Listing and paging (no secrets opened), for any LinkStore. */
export function listContract(f: StoreFactory): void {
  describe(`${f.name}: list`, () => {
    let store: LinkStore;
    let sealer: FakeSealer;
    let db: TestDatabase;

    beforeEach(async () => {
      db = await f.fresh();
      sealer = new FakeSealer();
      store = await db.links(sealer);
      // Insert in a scrambled order; every 7th link has no refresh token, every 11th a failure.
      const keys = PROVIDERS.flatMap((providerId) => USERS.map((userId) => ({ providerId, userId })));
      keys.sort((a, b) => ((a.userId.charCodeAt(7) * 31 + a.providerId.length) % 13) - ((b.userId.charCodeAt(7) * 31 + b.providerId.length) % 13));
      let i = 0;
      for (const key of keys) {
        i++;
        await store.put(key, tokens({ refreshToken: i % 7 === 0 ? "" : `rt-${i}`, expiresAt: i % 5 === 0 ? null : T0 + i }), T0 + i);
        if (i % 11 === 0) await store.recordFailure(key, `rt-${i}`, "invalid_grant", T0 + 10_000 + i);
      }
    });

    it("counts 250 links", async () => {
      expect(await store.count()).toBe(250);
    });

    it("pages through all 250 rows in (provider_id, user_id) order without gaps or repeats", async () => {
      const opens = sealer.calls.open;
      const { all, pages } = await pageAll(store, {}, 40);
      expect(pages).toBe(7);
      expect(all).toHaveLength(250);
      const expected = PROVIDERS.flatMap((p) => USERS.map((u) => `${p}/${u}`));
      expect(all.map(keyOf)).toEqual(expected);
      expect(sealer.calls.open).toBe(opens); // nothing was decrypted
    });

    it("reports metadata without secrets", async () => {
      const [first] = await store.list({ limit: 1 });
      expect(first).toBeDefined();
      expect(Object.keys(first!).sort()).toEqual(
        ["account", "createdAt", "expiresAt", "grantedScopes", "hasRefreshToken", "lastRefreshedAt", "providerId", "refreshFailure", "updatedAt", "userId", "version"].sort(),
      );
      const all = (await pageAll(store, {}, 100)).all;
      const withoutRt = all.filter((m) => !m.hasRefreshToken);
      const failed = all.filter((m) => m.refreshFailure !== null);
      // i % 7 === 0 → stored without a refresh token (35); i % 11 === 0 → failure recorded,
      // except where i % 77 === 0 (no refresh token to match): 22 - 3 = 19.
      expect(failed).toHaveLength(19);
      expect(withoutRt).toHaveLength(35 + 19);
      for (const m of failed) expect(m).toMatchObject({ hasRefreshToken: false, version: 2 });
      expect(all.some((m) => m.expiresAt === null)).toBe(true);
    });

    it("filters by provider, with paging", async () => {
      const { all } = await pageAll(store, { providerId: "github" }, 7);
      expect(all.map(keyOf)).toEqual(USERS.map((u) => `github/${u}`));
    });

    it("filters by user, with paging across providers", async () => {
      const { all, pages } = await pageAll(store, { userId: "user-007" }, 2);
      expect(all.map(keyOf)).toEqual(PROVIDERS.map((p) => `${p}/user-007`));
      expect(pages).toBe(3);
    });

    it("filters by both, and 'after' is exclusive", async () => {
      expect((await store.list({ providerId: "gitlab", userId: "user-001", limit: 10 })).map(keyOf)).toEqual(["gitlab/user-001"]);
      const after = { providerId: "gitlab", userId: "user-049" };
      expect((await store.list({ after, limit: 2 })).map(keyOf)).toEqual(["slack/user-000", "slack/user-001"]);
      expect(await store.list({ providerId: "gitlab", after, limit: 2 })).toEqual([]);
      expect(await store.list({ limit: 0 })).toEqual([]);
    });

    it("still lists when secrets no longer open", async () => {
      await db.raw.update({ access_token: Buffer.from("deadbeef", "hex"), extra: Buffer.from([0]) });
      expect((await pageAll(store, {}, 50)).all).toHaveLength(250);
    });
  });
}
