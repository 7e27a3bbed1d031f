import { describe, expect, it } from "vitest";
import type { HeldLease, LinkKey } from "../../src/store/link-store.js";
import { usePostgres } from "../support/postgres.js";
import type { ContractStore, StoreFactory, TestDatabase } from "./contract/factory.js";
import { memoryFactory } from "./contract/memory-factory.js";
import { postgresFactory } from "./contract/postgres-factory.js";
import { sqliteFactory } from "./contract/sqlite-factory.js";
import { FakeSealer } from "./fake-sealer.js";
import { T0 } from "./helpers.js";

/**
 * The SQL stores keep their writes as statements (the upsert, the commit,
 * each lease decision as one conditional UPDATE); the memory store is the
 * store core (link-core.ts, lease-core.ts) applied directly. This runs the
 * same random operations against both, two store instances per database
 * (two processes), and requires every answer and every row — byte for byte:
 * the FakeSealer is deterministic — to be the same after every step. So the
 * SQL's conditions are the core's decisions, boundaries included (a confirm
 * exactly at lease_until, a takeover of an expired lease exactly at it, a
 * takeover of a stale generation, a heal of a failed row).
 *
 * Lease times are the store's clock: both sides run every operation at the
 * same instant of their own stepped clocks (memory's database clock,
 * SQLite's injected clock, PostgreSQL's clock_timestamp() shadowed by the
 * test's — postgres-factory.ts), so the SQL is compared as it runs.
 */

const KEYS: LinkKey[] = [
  { providerId: "github", userId: "alice" },
  { providerId: "github", userId: "bob" },
];
const OWNERS = ["a", "b", "c"];
const TOKENS = ["rt-1", "rt-2", "rt-3", ""];
/** The contract's sealer: the digests failed_digest holds. */
const SEALER = new FakeSealer();

/** mulberry32: a small seeded PRNG, so a failing sequence can be replayed by its seed. */
function prng(seed: number): () => number {
  let s = seed >>> 0;
  return () => {
    s = (s + 0x6d2b79f5) >>> 0;
    let t = s;
    t = Math.imul(t ^ (t >>> 15), t | 1);
    t ^= t + Math.imul(t ^ (t >>> 7), t | 61);
    return ((t ^ (t >>> 14)) >>> 0) / 4294967296;
  };
}

interface Side {
  db: TestDatabase;
  stores: ContractStore["links"][];
}

/** An operation, run on each side at `at` by that side's store clock. */
type Op = { name: string; at: number; run: (side: Side) => Promise<unknown> };

/** What the generator may know of a row, read from the reference side (the core) without writing. */
interface Peek {
  version: number;
  refreshToken: string | null;
  /** The token whose digest failed_digest is (a recorded failure cleared it). */
  failed: string | null;
  holder: HeldLease | undefined;
  until: number | null;
}

/**
 * One random operation, every argument drawn before it runs so both sides get
 * the same call. Most arguments are the plausible ones (the row's version, its
 * refresh token, its holder, a confirm at or just before the lease's end) so
 * the decisions are exercised on both sides of every condition.
 */
function nextOp(rand: () => number, now: number, leases: HeldLease[], peek: Map<string, Peek>): Op {
  const pick = <T>(xs: readonly T[]): T => xs[Math.floor(rand() * xs.length)] as T;
  const plausible = (): boolean => rand() < 0.7;
  const key = pick(KEYS);
  const row = peek.get(key.userId);
  const who = Math.floor(rand() * 2);
  const version = row !== undefined && plausible() ? row.version : 1 + Math.floor(rand() * 4);
  const held = row?.holder;
  const stale = held === undefined ? undefined : { owner: held.owner, generation: held.generation + pick([-1, 1]) };
  const lease =
    held !== undefined && plausible()
      ? rand() < 0.2 && stale !== undefined
        ? stale // the holder's owner at another generation: an overtaken holder, or a claimant that judged from old news
        : held
      : leases.length > 0 && rand() < 0.8
        ? pick(leases)
        : { owner: pick(OWNERS), generation: Math.floor(rand() * 4) };
  const ttl = pick([1, 50, 100, 1000]);
  const on = (f: (s: ContractStore["links"], db: TestDatabase) => Promise<unknown>) => async (side: Side) => f(side.stores[who]!, side.db);
  const tokens = { accessToken: `at-${now}`, tokenType: "Bearer", refreshToken: pick([...TOKENS, undefined]), expiresAt: rand() < 0.3 ? null : now + 1000 };
  const extra = rand() < 0.5 ? undefined : rand() < 0.5 ? {} : { scope: `s${now}` };
  const sent = row?.refreshToken != null && plausible() ? row.refreshToken : pick(TOKENS);
  const owner = pick(OWNERS);
  const reason = pick(["", "invalid_grant"]);
  /** Around the lease's end as often as not: just before it, exactly at it, just after. */
  const nearUntil = (offsets: number[]): number => (row?.until != null && plausible() ? row.until + pick(offsets) : now);
  switch (pick(["put", "commit", "commit", "heal", "fail", "claim", "claim", "takeover", "takeover", "confirm", "confirm", "confirm", "release", "release", "read", "get", "delete"])) {
    case "put":
      return { name: `put ${key.userId}`, at: now, run: on((s) => s.put(key, { ...tokens, refreshToken: tokens.refreshToken ?? null, extra: extra ?? {} }, now)) };
    case "commit":
      return { name: `commit ${key.userId} v${version}`, at: now, run: on((s) => s.commitRefresh(key, { version, refreshToken: sent }, { ...tokens, extra }, now)) };
    case "heal": {
      // The answer to a token a failure cleared (or, now and then, to another one).
      const healing = row?.failed != null && plausible() ? row.failed : pick(TOKENS);
      return { name: `heal ${key.userId} v${version} ${healing}`, at: now, run: on((s) => s.commitRefresh(key, { version, refreshToken: healing }, { ...tokens, extra }, now)) };
    }
    case "fail":
      return { name: `fail ${key.userId}`, at: now, run: on((s) => s.recordFailure(key, sent, reason, now)) };
    case "claim":
      return { name: `claim ${key.userId}`, at: now, run: on((s) => s.claimLease(key, owner, ttl, null, { onlyIfExpired: rand() < 0.2 })) };
    case "takeover": {
      if (rand() < 0.5) return { name: `takeover ${key.userId} expect ${JSON.stringify(lease)}`, at: now, run: on((s) => s.claimLease(key, owner, ttl, lease)) };
      // Expired is lease_until <= the store's now.
      const at = nearUntil([-1, 0, 0, 1]);
      return { name: `takeover-expired ${key.userId} expect ${JSON.stringify(lease)} at ${at}`, at, run: on((s) => s.claimLease(key, owner, ttl, lease, { onlyIfExpired: true })) };
    }
    case "confirm": {
      const mark = pick([{}, { mark: "sending" as const }, { mark: "clear" as const }]);
      // Live is lease_until > the store's now.
      const at = nearUntil([0, 0, -1, -2]);
      return { name: `confirm ${key.userId} ${JSON.stringify(lease)} v${version} ${JSON.stringify(mark)} at ${at}`, at, run: on((s) => s.confirmLease(key, lease, version, ttl, mark)) };
    }
    case "release": {
      const keepSending = rand() < 0.5;
      return { name: `release ${key.userId} ${JSON.stringify(lease)}`, at: now, run: on((s) => s.releaseLease(key, lease, { keepSending })) };
    }
    case "read":
      return { name: `readLease ${key.userId}`, at: now, run: on((s) => s.readLease(key)) };
    case "get":
      return { name: `get ${key.userId}`, at: now, run: on(async (s, db) => (await db.settle(s), s.get(key))) };
    default:
      return rand() < 0.3
        ? { name: `delete ${key.userId}`, at: now, run: on((s) => s.delete(key)) }
        : { name: `read ${key.userId}`, at: now, run: on((s) => s.readLease(key)) };
  }
}

/** The reference side's rows as the generator sees them. */
async function peekAll(side: Side, reader: ContractStore["links"]): Promise<Map<string, Peek>> {
  const out = new Map<string, Peek>();
  for (const key of KEYS) {
    const record = await reader.get(key);
    if (record === undefined) continue;
    const lease = await reader.readLease(key);
    const failedDigest = (await side.db.raw.link(key))["failed_digest"];
    out.set(key.userId, {
      version: record.version,
      refreshToken: record.refreshToken,
      failed: TOKENS.find((t) => failedDigest === SEALER.digest(t)) ?? null,
      holder: lease == null ? undefined : { owner: lease.owner, generation: lease.generation },
      until: lease?.until ?? null,
    });
  }
  return out;
}

async function open(f: StoreFactory): Promise<Side> {
  const db = await f.fresh();
  return { db, stores: [await db.links(), await db.links()] };
}

const outcome = (p: Promise<unknown>): Promise<unknown> => p.then((value) => ({ value }), (err: unknown) => ({ error: err instanceof Error ? err.name : String(err) }));

async function differential(other: StoreFactory, seed: number, steps: number): Promise<void> {
  const rand = prng(seed);
  const core = await open(memoryFactory);
  const sql = await open(other);
  const reader = await core.db.links();
  const leases: HeldLease[] = [];
  const seen = new Map<string, number>();
  let now = T0;
  for (let i = 0; i < steps; i++) {
    now += Math.floor(rand() * 20);
    const op = nextOp(rand, now, leases, await peekAll(core, reader));
    await core.db.clock.set(op.at);
    await sql.db.clock.set(op.at);
    const want = await outcome(op.run(core));
    const got = await outcome(op.run(sql));
    const where = `seed ${seed}, step ${i}: ${op.name}`;
    expect(got, where).toEqual(want);
    const claimed = (want as { value?: { claimed?: boolean; lease?: HeldLease } }).value;
    if (claimed?.claimed === true && claimed.lease !== undefined) leases.push(claimed.lease);
    const kind = `${op.name.split(" ")[0]}:${JSON.stringify(want).slice(0, 30)}`;
    seen.set(kind, (seen.get(kind) ?? 0) + 1);
    expect(await sql.db.raw.select("*"), where).toEqual(await core.db.raw.select("*"));
  }
  // The run reached both sides of the decisions it is about.
  const kinds = [
    'confirm:{"value":true}',
    'confirm:{"value":false}',
    'claim:{"value":{"claimed":true',
    'claim:{"value":{"claimed":false',
    'takeover-expired:{"value":{"claimed":true',
    'takeover-expired:{"value":{"claimed":false',
    'commit:{"value":{"providerId"',
    'commit:{}',
    'heal:{"value":{"providerId"',
    'heal:{}',
  ];
  for (const kind of kinds) {
    expect([...seen.keys()].some((k) => k.startsWith(kind)), `seed ${seed} never saw ${kind}: ${[...seen.keys()].join(", ")}`).toBe(true);
  }
}

describe("the SQL stores' statements are the store core's decisions", () => {
  for (const seed of [1, 2, 3, 4, 5, 6]) {
    it(`SQLite, random operations (seed ${seed})`, async () => differential(sqliteFactory, seed, 500));
  }
});

// PostgreSQL only against a server already running (TOKENBROKER_TEST_PG_URL): the contract suite
// starts one when needed, this comparison is not worth a cluster of its own.
const url = process.env["TOKENBROKER_TEST_PG_URL"];
const server = url === undefined || url === "" ? undefined : await usePostgres();
describe.skipIf(server === undefined || typeof server === "string")("the PostgreSQL store's statements are the store core's decisions", () => {
  for (const seed of [1, 2]) {
    it(`PostgreSQL, random operations (seed ${seed})`, async () => {
      if (server === undefined || typeof server === "string") return;
      await differential(postgresFactory(server, { steppedClock: true }), seed, 300);
    });
  }
});
