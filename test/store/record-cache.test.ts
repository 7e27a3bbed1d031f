import { describe, expect, it } from "vitest";
import { recordCacheContract } from "./contract/record-cache.js";
import { sqliteFactory } from "./contract/sqlite-factory.js";
import { KEY, T0, tokens, useTempStores } from "./helpers.js";

recordCacheContract(sqliteFactory);

const stores = useTempStores();

describe("the decoded-record cache on SQLite", () => {
  it("serves repeated reads without the database, and drops everything when another connection commits (data_version)", async () => {
    const path = stores.dbPath();
    const store = stores.links(path);
    await store.put(KEY, tokens(), T0);
    const first = await store.get(KEY);
    // Tamper behind SQLite's back: a cached read does not notice...
    const raw = stores.raw(path);
    expect(await store.get(KEY)).toBe(first);
    // ...but a committed write from another connection drops the cache (data_version).
    raw.prepare("UPDATE links SET expires_at = ? WHERE provider_id = ? AND user_id = ?").run(T0 + 5, KEY.providerId, KEY.userId);
    const after = await store.get(KEY);
    expect(after).not.toBe(first);
    expect(after?.expiresAt).toBe(T0 + 5);
  });
});
