import type { FlowStore } from "../../../src/store/flow-store.js";
import type { KeyringStore } from "../../../src/store/keyring-store.js";
import type { LinkKey, LinkStore, StoredTokens } from "../../../src/store/link-store.js";
import type { FakeSealer } from "../fake-sealer.js";

/** A store as the contract suites use it: the interfaces, and the bulk import both stores have. */
export interface ContractStore {
  links: LinkStore & { putMany(items: Array<{ key: LinkKey; tokens: StoredTokens }>, now: number): Promise<number> };
  flows: FlowStore;
  keyring: KeyringStore;
  close(): Promise<void>;
}

export type RawValue = string | number | Buffer | null | { copyOf: string; from?: { user_id: string } };
export type RawWhere = Partial<Record<"provider_id" | "user_id", string>>;

/**
 * Direct access to one database's tables, behind the store's back, for
 * inspecting raw rows and tampering with them. Values come back as the row
 * codec knows them: integers as numbers, sealed values as Buffers.
 */
export interface RawTables {
  /** Rows of `table` (default links) matching `where`, in key order. */
  select(columns: string[] | "*", where?: RawWhere, table?: string): Promise<Record<string, unknown>[]>;
  /** One link row (throws when there is none). */
  link(key: LinkKey): Promise<Record<string, unknown>>;
  /** Sets columns of matching link rows; `{ copyOf }` copies another column (of the same row, or of `from`'s row). */
  update(values: Record<string, RawValue>, where?: RawWhere): Promise<void>;
  /** Inserts a link row as given. */
  insertLink(row: Record<string, string | number | Buffer | null>): Promise<void>;
  /** Changes whenever anything was written to the database (to prove a read wrote nothing). */
  writeStamp(): Promise<unknown>;
}

/**
 * The store's clock as a test drives it: every lease time is this clock's
 * (docs/design.md §3 invariant 13), never the caller's.
 */
export interface TestClock {
  /** True when the test moves it (memory's database clock, SQLite's injected clock); false on real time (PostgreSQL's clock_timestamp()). */
  readonly stepped: boolean;
  /** The store's clock now (on PostgreSQL a read of the database's clock). */
  now(): Promise<number>;
  /** Lets `ms` pass on the store's clock: a stepped clock moves; on real time this waits until the database's clock has moved that far. */
  elapse(ms: number): Promise<void>;
  /** Sets a stepped clock (a real one throws). */
  set(ms: number): Promise<void>;
}

/** A stepped clock for the stores that take one (memory, SQLite), starting at `start`. */
export function steppedClock(start: number): TestClock & { now(): Promise<number>; read(): number } {
  let t = start;
  return {
    stepped: true,
    read: () => t,
    now: async () => t,
    elapse: async (ms) => {
      t += ms;
    },
    set: async (ms) => {
      t = ms;
    },
  };
}

/** One database of the store under test; every store opened on it shares it, like processes do. */
export interface TestDatabase {
  /** The clock every store opened on this database judges leases by. */
  clock: TestClock;
  open(sealer?: FakeSealer, opts?: { cacheEntries?: number }): Promise<ContractStore>;
  links(sealer?: FakeSealer, opts?: { cacheEntries?: number }): Promise<ContractStore["links"]>;
  raw: RawTables;
  /**
   * Waits until `links` has heard of every write other stores committed
   * before the call (PostgreSQL: the NOTIFY round trip, docs/design.md §4.5;
   * SQLite sees them at once).
   */
  settle(links: LinkStore): Promise<void>;
}

/** How a contract suite gets databases of one implementation. */
export interface StoreFactory {
  name: string;
  /** Whether its databases' clocks are stepped (TestClock.stepped), so a suite can test exact boundaries. */
  steppedClock: boolean;
  fresh(): Promise<TestDatabase>;
}
