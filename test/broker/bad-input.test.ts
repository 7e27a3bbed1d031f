/**
 * Requests the engine must refuse before any provider call: unknown
 * providers and links, links with nothing to refresh with, and rows that
 * fail to decrypt (which must not affect other links).
 */
import { describe, expect, it } from "vitest";
import Database from "better-sqlite3";
import { Reason } from "../../src/errors/index.js";
import { brokerError, harness, key, stored } from "./harness.js";

const MIN_VALID = 60_000;

describe("bad input at the engine", () => {
  it("unknown provider: PROVIDER_NOT_FOUND, even when a link with that provider id is stored", async () => {
    const h = await harness();
    await h.store.put({ providerId: "gitlab", userId: "alice" }, { accessToken: "x-at", tokenType: "bearer", refreshToken: "x-rt", expiresAt: Date.now() - 1, extra: {} }, Date.now());
    const err = await brokerError(h.engine.obtain({ providerId: "gitlab", userId: "alice" }, MIN_VALID), Reason.PROVIDER_NOT_FOUND);
    expect(err.detail.hint).toBeTruthy();
    await brokerError(h.engine.obtain({ providerId: "nope", userId: "alice" }, MIN_VALID), Reason.PROVIDER_NOT_FOUND);
    expect(h.fake.tokenRequests).toBe(0);
    expect(h.engine.lockCount).toBe(0);
  });

  it("unknown link: LINK_NOT_FOUND with a hint to link", async () => {
    const h = await harness();
    await h.seed(key("someone-else"), { accessTtlSec: 5 });
    const errs = await Promise.all(Array.from({ length: 10 }, () => brokerError(h.engine.obtain(key("nobody"), MIN_VALID), Reason.LINK_NOT_FOUND)));
    for (const e of errs) expect(e.detail.hint).toMatch(/StartLink|link/);
    expect(h.fake.tokenRequests).toBe(0);
    expect(h.engine.lockCount).toBe(0);
  });

  it("an expired link without a refresh token: REAUTH_REQUIRED without contacting the provider", async () => {
    const h = await harness();
    const k = key("no-rt");
    const issued = h.fake.issue({ accessTtlSec: 5, withRefresh: false });
    h.secrets.add(issued.accessToken);
    await h.store.put(k, { accessToken: issued.accessToken, tokenType: "bearer", refreshToken: "", expiresAt: issued.expiresAt, extra: {} }, Date.now());
    const err = await brokerError(h.engine.obtain(k, MIN_VALID), Reason.REAUTH_REQUIRED);
    expect(err.detail.failureReason).toBeTruthy();
    expect(h.fake.tokenRequests).toBe(0);
    // But a token without expiry, or still fresh enough, is served.
    expect((await h.engine.obtain(k, 1000)).accessToken).toBe(issued.accessToken);
  });

  it("a provider configured with no_refresh never refreshes", async () => {
    const h = await harness({ provider: { noRefresh: true } });
    const k = key("norefresh");
    await h.seed(k, { accessTtlSec: 5 });
    await brokerError(h.engine.obtain(k, MIN_VALID), Reason.REAUTH_REQUIRED);
    expect(h.fake.tokenRequests).toBe(0);
  });

  it("a row that fails to decrypt: DECRYPT_FAILED for that link only", async () => {
    const h = await harness();
    const good = key("good");
    const bad = key("bad");
    await h.seed(good, { accessTtlSec: 5 });
    await h.seed(bad, { accessTtlSec: 5 });
    // Move the good row's sealed refresh token into the bad row: bound to another row, it must not open.
    const db = new Database(h.dbPath, { timeout: 5000 });
    try {
      db.prepare("UPDATE links SET refresh_token = (SELECT refresh_token FROM links WHERE user_id = 'good') WHERE user_id = 'bad'").run();
    } finally {
      db.close();
    }
    await brokerError(h.engine.obtain(bad, MIN_VALID), Reason.DECRYPT_FAILED);
    const ok = await h.engine.obtain(good, MIN_VALID);
    expect(h.fake.isValid(ok.accessToken)).toBe(true);
    expect(h.fake.tokenRequests).toBe(1);
    expect((await stored(h, good)).refreshToken).toBe(h.issued[0]!.refreshToken);
  });
});
