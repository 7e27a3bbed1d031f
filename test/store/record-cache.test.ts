import { describe, expect, it } from "vitest";
import { FakeSealer } from "./fake-sealer.js";
import { KEY, T0, tokens, useTempStores } from "./helpers.js";

const stores = useTempStores();

describe("the decoded-record cache", () => {
  it("serves repeated reads without the database, and sees this connection's own writes", async () => {
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

    const committed = await store.commitRefresh(KEY, { version: after!.version, refreshToken: "rt-1" }, tokens({ accessToken: "at-2", refreshToken: "rt-2" }), T0 + 10);
    expect(await store.get(KEY)).toEqual(committed);
    await store.recordFailure(KEY, "rt-2", "bad_refresh_token", T0 + 20);
    expect((await store.get(KEY))?.refreshToken).toBeNull();
    await store.delete(KEY);
    expect(await store.get(KEY)).toBeUndefined();
  });

  it("another store instance's refresh commit is seen at once (two processes sharing a file)", async () => {
    const path = stores.dbPath();
    const sealer = new FakeSealer();
    const a = stores.links(path, sealer);
    const b = stores.links(path, sealer);
    await a.put(KEY, tokens(), T0);
    const seenByB = await b.get(KEY);
    expect(seenByB?.accessToken).toBe("at-1");
    await a.commitRefresh(KEY, { version: seenByB!.version, refreshToken: "rt-1" }, tokens({ accessToken: "at-2", refreshToken: "rt-2" }), T0 + 1);
    expect((await b.get(KEY))?.accessToken).toBe("at-2");
    await a.delete(KEY);
    expect(await b.get(KEY)).toBeUndefined();
  });
});
