import { describe, expect, it } from "vitest";
import Database from "better-sqlite3";
import { SqliteConnection } from "../../src/store/sqlite/connection.js";
import { SqliteLinks } from "../../src/store/sqlite/links.js";
import { StoreUnavailableError } from "../../src/store/store-errors.js";
import { FakeSealer } from "./fake-sealer.js";
import { KEY, T0, tokens, useTempStores } from "./helpers.js";

const t = useTempStores();

describe("which failures become StoreUnavailableError", () => {
  it("a read-only database rejects at once (not retried), and the connection works again once writable", async () => {
    const conn = SqliteConnection.open({ path: t.dbPath(), busyBudgetMs: 5000 });
    try {
      const links = new SqliteLinks(conn, new FakeSealer(), 100);
      await links.put(KEY, tokens(), T0);
      conn.db.pragma("query_only = ON");
      const started = performance.now();
      const err: unknown = await links.commitRefresh(KEY, { version: 1, refreshToken: "rt-1" }, tokens({ refreshToken: "rt-2" }), T0 + 1).catch((e: unknown) => e);
      expect(err).toBeInstanceOf(StoreUnavailableError);
      expect(err).toMatchObject({ code: expect.stringMatching(/^SQLITE_READONLY/), operation: "links.commitRefresh", retryAfterMs: 5000 });
      expect(performance.now() - started).toBeLessThan(1000);
      expect(conn.db.inTransaction).toBe(false);
      conn.db.pragma("query_only = OFF");
      expect(await links.commitRefresh(KEY, { version: 1, refreshToken: "rt-1" }, tokens({ refreshToken: "rt-2" }), T0 + 2)).toMatchObject({ version: 2 });
    } finally {
      await conn.close();
    }
  });

  it("a constraint violation passes through unchanged", async () => {
    const store = t.open(t.dbPath());
    const flow = { stateHash: "same", ...KEY, codeVerifier: null, redirectAfter: null, createdAt: T0, expiresAt: T0 + 1 };
    await store.flows.createAuthFlow(flow);
    const err: unknown = await store.flows.createAuthFlow(flow).catch((e: unknown) => e);
    expect(err).toBeInstanceOf(Database.SqliteError);
    expect(err).toMatchObject({ code: "SQLITE_CONSTRAINT_PRIMARYKEY" });
  });

  it("a DecryptError and a bad argument pass through unchanged", async () => {
    const path = t.dbPath();
    const store = t.links(path, undefined, { cacheEntries: 0 });
    await store.put(KEY, tokens(), T0);
    t.raw(path).prepare("UPDATE links SET access_token = x'00'").run();
    await expect(store.get(KEY)).rejects.toMatchObject({ name: "DecryptError" });
    await expect(store.get({ providerId: "", userId: "u" })).rejects.toBeInstanceOf(TypeError);
  });
});
