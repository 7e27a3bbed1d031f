/**
 * The caller_tokens table (migration 5) on the three stores alike: found by
 * digest whatever its state, revoked once and only while active, listed
 * newest first with the active filter, a digest stored once.
 */
import { randomBytes } from "node:crypto";
import { describe, expect, it } from "vitest";
import { AesSealer, Keyring } from "../../src/crypto/index.js";
import type { CallerTokenRecord, CallerTokenStore } from "../../src/store/caller-token-store.js";
import { openMemoryStore } from "../../src/store/memory/index.js";
import { openPostgresStore } from "../../src/store/postgres/index.js";
import { openSqliteStore } from "../../src/store/sqlite/index.js";
import { usePostgres } from "../support/postgres.js";
import { atScopeEnd } from "../support/scope-cleanup.js";
import { T0, useTempStores } from "./helpers.js";

const t = useTempStores();
const server = await usePostgres();

const stores: Array<[string, () => Promise<CallerTokenStore | string>]> = [
  ["memory", async () => openMemoryStore().callerTokens],
  [
    "sqlite",
    async () => {
      const s = openSqliteStore({ path: t.dbPath(), sealer: new AesSealer(new Keyring([randomBytes(32)])) });
      atScopeEnd(() => s.close());
      return s.callerTokens;
    },
  ],
  [
    "postgres",
    async () => {
      if (typeof server === "string") return server;
      const s = await openPostgresStore({ url: await server.freshDatabase(), sealer: new AesSealer(new Keyring([randomBytes(32)])), clockOffsetMs: 0, listen: false });
      atScopeEnd(() => s.close());
      return s.callerTokens;
    },
  ],
];

const record = (over: Partial<CallerTokenRecord>): CallerTokenRecord => ({
  id: "ct_1",
  digest: "1".repeat(64),
  userId: "alice",
  providerIds: ["gh"],
  scopes: ["token"],
  label: "job",
  issuedBy: "prov",
  createdAt: T0,
  expiresAt: T0 + 1000,
  revokedAt: null,
  ...over,
});

describe.each(stores)("caller tokens on the %s store", (_name, open) => {
  it("finds by digest, revokes once while active, lists newest first, refuses a digest twice", async (ctx) => {
    const store = await open();
    if (typeof store === "string") return ctx.skip(store);
    await store.insertCallerToken(record({}));
    await store.insertCallerToken(record({ id: "ct_2", digest: "2".repeat(64), userId: "bob", providerIds: [], createdAt: T0 + 1, expiresAt: T0 + 10 }));
    await store.insertCallerToken(record({ id: "ct_3", digest: "3".repeat(64), createdAt: T0 + 2, expiresAt: T0 + 5000 }));
    await expect(store.insertCallerToken(record({ id: "ct_4" }))).rejects.toThrow();
    expect(await store.findCallerToken("1".repeat(64))).toEqual(record({}));
    expect(await store.findCallerToken("f".repeat(64))).toBeUndefined();
    expect((await store.listCallerTokens({})).map((r) => r.id)).toEqual(["ct_3", "ct_2", "ct_1"]);
    expect((await store.listCallerTokens({ userId: "alice" })).map((r) => r.id)).toEqual(["ct_3", "ct_1"]);
    // ct_2 expired at T0 + 10.
    expect((await store.listCallerTokens({ activeAt: T0 + 10 })).map((r) => r.id)).toEqual(["ct_3", "ct_1"]);
    expect(await store.revokeCallerToken("ct_2", T0 + 10)).toBe(false);
    expect(await store.revokeCallerToken("ct_1", T0 + 20)).toBe(true);
    expect(await store.revokeCallerToken("ct_1", T0 + 21)).toBe(false);
    expect(await store.revokeCallerToken("nope", T0 + 21)).toBe(false);
    expect((await store.findCallerToken("1".repeat(64)))?.revokedAt).toBe(T0 + 20);
    expect((await store.listCallerTokens({ activeAt: T0 + 21 })).map((r) => r.id)).toEqual(["ct_3"]);
  });
});
