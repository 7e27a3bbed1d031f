/**
 * store-copy.ts from a SQLite file into PostgreSQL, row by row as stored
 * (docs/design.md §4.6): every column of `links` arrives — the sending
 * marker and failed_digest included — so a link failed for an interrupted
 * send can still be healed on the new database. (The 50,000-link run of the
 * built CLI is test/fleet/store-migrate.test.ts.)
 */
import { randomBytes } from "node:crypto";
import pg from "pg";
import { describe, expect, it } from "vitest";
import { AesSealer, Keyring, verifyKeyring } from "../../src/crypto/index.js";
import { openPostgresCopyTarget, openPostgresStore } from "../../src/store/postgres/index.js";
import { openSqliteCopySource, openSqliteStore } from "../../src/store/sqlite/index.js";
import { StoreCopyError, copyStore } from "../../src/store/store-copy.js";
import { usePostgres } from "../support/postgres.js";
import { atScopeEnd } from "../support/scope-cleanup.js";
import { T0, tokens, useTempStores } from "./helpers.js";

const t = useTempStores();
const server = await usePostgres();
const INT8_OID = 20;
const types = { getTypeParser: ((oid: number, format?: "text") => (oid === INT8_OID ? Number : pg.types.getTypeParser(oid, format))) as typeof pg.types.getTypeParser };

describe.skipIf(typeof server === "string")(`copying a SQLite store into PostgreSQL${typeof server === "string" ? ` (${server})` : ""}`, () => {
  it("copies every column of links, failed_digest and the sending marker included; a failed link still heals on the target", async () => {
    if (typeof server === "string") return;
    const keyring = new Keyring([randomBytes(32)]);
    const sealer = new AesSealer(keyring);
    const path = t.dbPath();
    const store = openSqliteStore({ path, sealer, clock: { now: () => T0 + 5 } });
    atScopeEnd(() => store.close());
    await verifyKeyring(keyring, store.keyring, T0);
    const alice = { providerId: "github", userId: "alice" };
    const bob = { providerId: "github", userId: "bob" };
    await store.links.put(alice, tokens({ refreshToken: "rt-alice" }), T0);
    await store.links.put(bob, tokens({ refreshToken: "rt-bob" }), T0);
    // alice was failed for an interrupted send; bob's holder died while sending.
    expect(await store.links.recordFailure(alice, "rt-alice", "refresh interrupted", T0 + 1)).toBe(true);
    const claim = await store.links.claimLease(bob, "dead", 60_000, null);
    if (!claim.claimed) throw new Error("expected a claim");
    expect(await store.links.confirmLease(bob, claim.lease, 1, 60_000, { mark: "sending" })).toBe(true);
    const rows = t.raw(path).prepare("SELECT * FROM links ORDER BY provider_id, user_id").all();
    expect(rows).toMatchObject([{ failed_digest: sealer.digest("rt-alice") }, { refresh_sent_at: T0 + 5, refresh_sent_by: "dead" }]);

    const url = await server.freshDatabase();
    const copySource = openSqliteCopySource(path);
    atScopeEnd(() => copySource.close());
    const target = await openPostgresCopyTarget({ url, clockOffsetMs: 0 });
    atScopeEnd(() => target.close());
    await copyStore(copySource, target, keyring, sealer, { overwrite: false });

    const c = new pg.Client({ connectionString: url, types });
    await c.connect();
    atScopeEnd(() => c.end());
    expect((await c.query("SELECT * FROM links ORDER BY provider_id, user_id")).rows).toEqual(rows);

    const fleet = await openPostgresStore({ url, sealer, clockOffsetMs: 0, listen: false });
    atScopeEnd(() => fleet.close());
    const healed = await fleet.links.commitRefresh(alice, { version: 1, refreshToken: "rt-alice" }, tokens({ accessToken: "at-2", refreshToken: "rt-2" }), T0 + 2);
    expect(healed).toMatchObject({ version: 3, refreshToken: "rt-2", refreshFailure: null });
    // The dead holder's lease came along: taken over, it names the interrupted send.
    expect(await fleet.links.claimLease(bob, "b", 60_000, claim.lease)).toMatchObject({ claimed: true, interrupted: { by: "dead", at: T0 + 5 } });
  });

  it("copies times as stored: an expiry of 2027-01-01T00:00:00Z reads back identical, whatever clock offset the target measured", async () => {
    if (typeof server === "string") return;
    const keyring = new Keyring([randomBytes(32)]);
    const sealer = new AesSealer(keyring);
    const path = t.dbPath();
    const store = openSqliteStore({ path, sealer, clock: { now: () => T0 } });
    atScopeEnd(() => store.close());
    await verifyKeyring(keyring, store.keyring, T0);
    const expiresAt = Date.parse("2027-01-01T00:00:00Z");
    const alice = { providerId: "github", userId: "alice" };
    await store.links.put(alice, tokens({ expiresAt }), T0);

    const url = await server.freshDatabase();
    const copySource = openSqliteCopySource(path);
    atScopeEnd(() => copySource.close());
    // This host's clock 2 s off the database's: the copy must not move any time by it.
    const target = await openPostgresCopyTarget({ url, clockOffsetMs: -2000 });
    atScopeEnd(() => target.close());
    await copyStore(copySource, target, keyring, sealer, { overwrite: false });

    const c = new pg.Client({ connectionString: url, types });
    await c.connect();
    atScopeEnd(() => c.end());
    const [row] = (await c.query<{ expires_at: number; created_at: number }>("SELECT expires_at, created_at FROM links")).rows;
    expect(new Date(row!.expires_at).toISOString()).toBe("2027-01-01T00:00:00.000Z");
    expect(row!.created_at).toBe(T0);
    const fleet = await openPostgresStore({ url, sealer, clockOffsetMs: 0, listen: false });
    atScopeEnd(() => fleet.close());
    expect((await fleet.links.get(alice))?.expiresAt).toBe(expiresAt);
  });

  it("with the wrong keys, names only the keys the source's values are sealed under, not a retired key's sentinel", async () => {
    if (typeof server === "string") return;
    const [retired, current, wrong] = [randomBytes(32), randomBytes(32), randomBytes(32)];
    const path = t.dbPath();
    // First a store under the old key alone (its sentinel stays), then the new key seals every value.
    const old = openSqliteStore({ path, sealer: new AesSealer(new Keyring([retired])) });
    await verifyKeyring(new Keyring([retired]), old.keyring, T0);
    await old.close();
    const ring = new Keyring([current, retired]);
    const store = openSqliteStore({ path, sealer: new AesSealer(ring) });
    atScopeEnd(() => store.close());
    await verifyKeyring(ring, store.keyring, T0);
    await store.links.put({ providerId: "github", userId: "alice" }, tokens(), T0);
    const [currentId, retiredId] = ring.keyIds as [string, string];
    const wrongRing = new Keyring([wrong]);

    const url = await server.freshDatabase();
    const copySource = openSqliteCopySource(path);
    atScopeEnd(() => copySource.close());
    const target = await openPostgresCopyTarget({ url, clockOffsetMs: 0 });
    atScopeEnd(() => target.close());
    const err = await copyStore(copySource, target, wrongRing, new AesSealer(wrongRing), { overwrite: false }).catch((e: unknown) => e);
    expect(err).toBeInstanceOf(StoreCopyError);
    const message = (err as Error).message;
    expect(message).toContain(`its values are sealed under key(s) ${currentId}; the keyring has ${wrongRing.keyIds[0]}`);
    expect(message).not.toContain(retiredId);
  });

  it("copies the job-scoped caller tokens (migration 5) row for row; a revoked one stays revoked, an active one is found by its digest", async () => {
    if (typeof server === "string") return;
    const keyring = new Keyring([randomBytes(32)]);
    const sealer = new AesSealer(keyring);
    const path = t.dbPath();
    const store = openSqliteStore({ path, sealer });
    atScopeEnd(() => store.close());
    await verifyKeyring(keyring, store.keyring, T0);
    const base = { userId: "alice", providerIds: ["github"], scopes: ["token"], label: "job 1", issuedBy: "prov", createdAt: T0, expiresAt: T0 + 3_600_000, revokedAt: null };
    await store.callerTokens.insertCallerToken({ ...base, id: "ct_a", digest: "a".repeat(64) });
    await store.callerTokens.insertCallerToken({ ...base, id: "ct_b", digest: "b".repeat(64), userId: "bob", providerIds: [] });
    expect(await store.callerTokens.revokeCallerToken("ct_b", T0 + 1)).toBe(true);
    const rows = t.raw(path).prepare("SELECT * FROM caller_tokens ORDER BY id").all();
    const url = await server.freshDatabase();
    const copySource = openSqliteCopySource(path);
    atScopeEnd(() => copySource.close());
    const target = await openPostgresCopyTarget({ url, clockOffsetMs: 0 });
    atScopeEnd(() => target.close());
    const result = await copyStore(copySource, target, keyring, sealer, { overwrite: false });
    expect(result.counts.caller_tokens).toBe(2);
    const c = new pg.Client({ connectionString: url, types });
    await c.connect();
    atScopeEnd(() => c.end());
    expect((await c.query("SELECT * FROM caller_tokens ORDER BY id")).rows).toEqual(rows);
    const fleet = await openPostgresStore({ url, sealer, clockOffsetMs: 0, listen: false });
    atScopeEnd(() => fleet.close());
    expect(await fleet.callerTokens.findCallerToken("a".repeat(64))).toMatchObject({ id: "ct_a", userId: "alice", providerIds: ["github"], revokedAt: null });
    expect(await fleet.callerTokens.listCallerTokens({ activeAt: T0 + 2 })).toMatchObject([{ id: "ct_a" }]);
    expect(await fleet.callerTokens.revokeCallerToken("ct_b", T0 + 2)).toBe(false);
  });
});
