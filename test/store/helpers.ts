import { join } from "node:path";
import Database from "better-sqlite3";
import { afterEach } from "vitest";
import { openSqliteStore, type SqliteLinks, type SqliteStore, type SqliteStoreOptions } from "../../src/store/sqlite/index.js";
import type { LinkKey, NewTokens } from "../../src/store/link-store.js";
import { tempDir } from "../support/temp-dir.js";
import { FakeSealer } from "./fake-sealer.js";

type OpenOptions = Omit<SqliteStoreOptions, "path" | "sealer">;

/**
 * Per-test temp dirs and stores, closed and removed after each test.
 * Call `useTempStores()` at the top of a test file.
 */
export function useTempStores() {
  const closers: (() => unknown)[] = [];

  afterEach(async () => {
    for (const close of closers.splice(0).reverse()) await close();
  });

  const open = (path: string, sealer: FakeSealer = new FakeSealer(), opts: OpenOptions = {}): SqliteStore => {
    const store = openSqliteStore({ path, sealer, ...opts });
    closers.push(() => store.close());
    return store;
  };

  return {
    /** A fresh temp dir, removed after the test. */
    dir(): string {
      return tempDir("tb-store-");
    },
    /** A fresh database path in a new temp dir. */
    dbPath(): string {
      return join(this.dir(), "links.db");
    },
    /** The whole store (links, flows, keyring). */
    open,
    /** Just its links. */
    links(path: string, sealer?: FakeSealer, opts?: OpenOptions): SqliteLinks {
      return open(path, sealer, opts).links;
    },
    /** A plain better-sqlite3 connection for inspecting or tampering with raw rows. */
    raw(path: string): Database.Database {
      const db = new Database(path, { timeout: 5000 });
      closers.push(() => db.close());
      return db;
    },
  };
}

export const KEY: LinkKey = { providerId: "github", userId: "alice" };
export const T0 = 1_700_000_000_000;

export function tokens(over: Partial<NewTokens> = {}): NewTokens & { refreshToken: string; extra: Record<string, string> } {
  return {
    accessToken: "at-1",
    tokenType: "Bearer",
    refreshToken: "rt-1",
    expiresAt: T0 + 3_600_000,
    extra: { scope: "repo" },
    ...over,
  } as NewTokens & { refreshToken: string; extra: Record<string, string> };
}
