/**
 * `store migrate` refuses a SQLite source that is in use (docs/design.md
 * §4.6, issue 18 item 6): another process holding the file open is found
 * through /proc and named; the source's write lock is held for the whole
 * copy, so no writer slips in; a write lock /proc cannot show is refused
 * after a short wait; and a process that opens the file during the copy
 * rolls the copy back before the target commits.
 */
import { randomBytes } from "node:crypto";
import { join } from "node:path";
import Database from "better-sqlite3";
import { describe, expect, it } from "vitest";
import { AesSealer, Keyring, verifyKeyring } from "../../src/crypto/index.js";
import { openPostgresCopyTarget } from "../../src/store/postgres/index.js";
import { SourceInUseError, openSqliteCopySource, openSqliteStore } from "../../src/store/sqlite/index.js";
import { copyStore } from "../../src/store/store-copy.js";
import { findHolders } from "../../src/store/sqlite/holders.js";
import { usePostgres } from "../support/postgres.js";
import { atScopeEnd } from "../support/scope-cleanup.js";
import { tempDir } from "../support/temp-dir.js";
import { KEY, T0, tokens } from "./helpers.js";
import { holdOpen } from "./sqlite-holder.js";

const server = await usePostgres();

/** A SQLite store file with one link and the key's sentinel, closed. */
async function seeded(): Promise<{ path: string; keyring: Keyring }> {
  const path = join(tempDir("tb-copy-source-"), "tb.db");
  const keyring = new Keyring([randomBytes(32)]);
  const store = openSqliteStore({ path, sealer: new AesSealer(keyring) });
  await verifyKeyring(keyring, store.keyring, T0);
  await store.links.put(KEY, tokens(), T0);
  await store.close();
  return { path, keyring };
}

function openSource(path: string) {
  const source = openSqliteCopySource(path);
  atScopeEnd(() => source.close());
  return source;
}

function thrown(fn: () => unknown): unknown {
  try {
    fn();
  } catch (err) {
    return err;
  }
  return undefined;
}

describe("a SQLite copy source in use", () => {
  it("is refused while another process holds it open, naming its pid, command line and files; opens once it is gone", async () => {
    const { path } = await seeded();
    const holder = await holdOpen(path, "write");
    expect(findHolders(path).holders.map((h) => h.pid)).toEqual([holder.pid]);
    const err = thrown(() => openSqliteCopySource(path));
    expect(err).toBeInstanceOf(SourceInUseError);
    expect((err as SourceInUseError).holders).toEqual([{ pid: holder.pid, command: expect.stringContaining("sqlite-holder.mjs"), files: expect.arrayContaining(["tb.db", "tb.db-wal"]) }]);
    expect((err as Error).message).toMatch(new RegExp(`^${path.replace(/[.*+?^${}()|[\]\\]/g, "\\$&")} is in use: pid ${holder.pid} \\([^)]*sqlite-holder\\.mjs [^)]*\\) holds tb\\.db`));
    await holder.stop();
    expect(findHolders(path).holders).toEqual([]);
    expect(await openSource(path).counts()).toMatchObject({ links: 1, key_sentinels: 1 });
  });

  it("holds the source's write lock until closed: a writer is turned away, a reader is not", async () => {
    const { path } = await seeded();
    const source = openSource(path);
    const other = new Database(path, { timeout: 0 });
    atScopeEnd(() => other.close());
    expect(other.prepare<[], { n: number }>("SELECT count(*) AS n FROM links").get()?.n).toBe(1);
    expect(() => other.exec("BEGIN IMMEDIATE")).toThrow(/database is locked/);
    source.close();
    other.exec("BEGIN IMMEDIATE");
    other.exec("ROLLBACK");
  });

  it("refuses a write lock it cannot take even when /proc shows no holder (here: a connection of this very process)", async () => {
    const { path } = await seeded();
    const writer = new Database(path);
    atScopeEnd(() => writer.close());
    writer.exec("BEGIN IMMEDIATE");
    const err = thrown(() => openSqliteCopySource(path));
    expect(err).toBeInstanceOf(SourceInUseError);
    expect((err as Error).message).toContain("is in use: another connection holds its write lock (no process holding the file open is visible in /proc)");
    writer.exec("ROLLBACK");
  });

  it.skipIf(typeof server === "string")("rolls the copy back when another process opens the source during it", async () => {
    if (typeof server === "string") return;
    const { path, keyring } = await seeded();
    const source = openSource(path);
    const target = await openPostgresCopyTarget({ url: await server.freshDatabase() });
    atScopeEnd(() => target.close());
    // A daemon starting on the file meanwhile: it opens it and reads (its writes would wait for the lock).
    const late = await holdOpen(path, "read");
    const err: unknown = await copyStore(source, target, keyring, new AesSealer(keyring), { overwrite: false }).catch((e: unknown) => e);
    expect(err).toBeInstanceOf(SourceInUseError);
    expect((err as Error).message).toContain(`was opened by another process during the copy: pid ${late.pid} (`);
    expect(await target.transaction((w) => w.counts())).toEqual({ links: 0, auth_flows: 0, device_flows: 0, key_sentinels: 0, caller_tokens: 0 });
  });
});
