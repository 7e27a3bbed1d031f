import { fork, type ChildProcess } from "node:child_process";
import { afterEach, beforeAll, describe, expect, it } from "vitest";
import type { LinkKey } from "../../src/store/link-store.js";
import { CHILD_SCRIPT, buildStoreForChildren } from "./child-build.js";
import { LATEST_SCHEMA_VERSION } from "../../src/store/sqlite/index.js";
import { FakeSealer } from "./fake-sealer.js";
import { T0, tokens, useTempStores } from "./helpers.js";

const t = useTempStores();
const CHILDREN = 4;

/** Microseconds on CLOCK_MONOTONIC, which every process on the host shares. */
type Span = [start: number, end: number];
type Reply = { ok: true; result: unknown; span?: Span } | { ok: false; error: string };

const nowUs = (): number => Number(process.hrtime.bigint() / 1000n);
/** Long enough for every child to have the command before it starts. */
const START_DELAY_US = 100_000;
const MAX_ROUNDS = 5;

/** A forked node process running race-child.mjs against one DB file. */
class Child {
  private readonly replies: Reply[] = [];
  private waiter: ((r: Reply) => void) | undefined;
  readonly exited: Promise<number | null>;

  constructor(readonly proc: ChildProcess) {
    proc.on("message", (m: Reply) => {
      const w = this.waiter;
      if (w) {
        this.waiter = undefined;
        w(m);
      } else this.replies.push(m);
    });
    this.exited = new Promise((resolve) => proc.on("exit", (code) => resolve(code)));
  }

  async next(): Promise<{ result: unknown; span?: Span }> {
    const reply =
      this.replies.shift() ??
      (await new Promise<Reply>((resolve, reject) => {
        this.waiter = resolve;
        this.exited.then((code) => reject(new Error(`child exited (${code}) before replying`)), reject);
      }));
    if (!reply.ok) throw new Error(`child failed: ${reply.error}`);
    return reply;
  }

  send(msg: Record<string, unknown>): void {
    this.proc.send(msg);
  }
}

let buildDir: string;
let children: Child[] = [];

beforeAll(() => {
  buildDir = buildStoreForChildren();
});
afterEach(async () => {
  for (const c of children) {
    if (c.proc.connected) c.send({ cmd: "exit" });
  }
  await Promise.all(children.map((c) => c.exited));
  children = [];
});

async function spawnChildren(dbPath: string, n = CHILDREN): Promise<Child[]> {
  children = Array.from({ length: n }, (_, i) => new Child(fork(CHILD_SCRIPT, [buildDir, dbPath, String(i)], { stdio: "inherit" })));
  const ready = await Promise.all(children.map((c) => c.next()));
  expect(ready.map((r) => r.result)).toEqual(children.map(() => "ready"));
  return children;
}

/**
 * Sends a command to every child, to start at one instant, and collects the
 * results; `overlapped` says whether two children were running it at the same
 * moment — the race was real, not one process after another.
 */
async function race<R>(cs: Child[], msg: Record<string, unknown> | ((i: number) => Record<string, unknown>)): Promise<{ results: R[]; overlapped: boolean }> {
  const startAt = nowUs() + START_DELAY_US;
  cs.forEach((c, i) => c.send({ ...(typeof msg === "function" ? msg(i) : msg), startAt }));
  const replies = await Promise.all(cs.map((c) => c.next()));
  const spans = replies.map((r) => r.span!);
  const overlapped = spans.some(([s1, e1], i) => spans.some(([s2, e2], j) => i !== j && s1 < e2 && s2 < e1));
  return { results: replies.map((r) => r.result as R), overlapped };
}

/**
 * Runs `round` (each on fresh rows, its own assertions inside) until one
 * returns that two processes ran at the same moment, at most MAX_ROUNDS
 * times. Which process wins rows depends on scheduling; that they contended
 * does not, given enough tries.
 */
async function untilOverlap(round: (n: number) => Promise<boolean>): Promise<void> {
  let overlapped = false;
  for (let n = 0; n < MAX_ROUNDS && !overlapped; n++) overlapped = await round(n);
  expect(overlapped, `two processes ran at the same moment in one of ${MAX_ROUNDS} rounds`).toBe(true);
}

const keyName = (k: LinkKey) => `${k.providerId}/${k.userId}`;

async function seed(path: string, n: number, prefix = ""): Promise<LinkKey[]> {
  const store = t.links(path);
  const keys = Array.from({ length: n }, (_, i) => ({ providerId: "github", userId: `${prefix}u${String(i).padStart(3, "0")}` }));
  for (const key of keys) await store.put(key, tokens(), T0);
  await store.close();
  return keys;
}

describe("several OS processes on one SQLite file", () => {
  it("open a fresh file together: migrations are applied once", async () => {
    const path = t.dbPath();
    await spawnChildren(path);
    const raw = t.raw(path);
    expect(raw.prepare("SELECT count(*) FROM schema_migrations").pluck().get()).toBe(LATEST_SCHEMA_VERSION);
    expect(raw.pragma("journal_mode", { simple: true })).toBe("wal");
  });

  it("exactly one process wins each lease", async () => {
    const path = t.dbPath();
    const cs = await spawnChildren(path);
    const store = t.links(path);
    await untilOverlap(async (round) => {
      const keys = await seed(path, 150, `r${round}-`);
      const { results: won, overlapped } = await race<{ key: LinkKey; generation: number }[]>(cs, (i) => ({
        cmd: "claimAll",
        keys: i % 2 === 0 ? keys : [...keys].reverse(), // opposite orders meet in the middle
      }));
      const winners = new Map<string, number>();
      won.forEach((list, child) => {
        for (const w of list) {
          expect(winners.has(keyName(w.key))).toBe(false);
          expect(w.generation).toBe(1);
          winners.set(keyName(w.key), child);
        }
      });
      expect(winners.size).toBe(keys.length);
      for (const key of keys) {
        expect(await store.readLease(key)).toMatchObject({ owner: `child-${winners.get(keyName(key))}`, generation: 1 });
        expect(await store.get(key)).toMatchObject({ version: 1 });
      }
      return overlapped;
    });
  });

  it("exactly one process takes over a holder they all observed, and each learns of its interrupted send", async () => {
    const path = t.dbPath();
    const cs = await spawnChildren(path);
    // The seeding store's clock stands still at T0 + 5: the children take over without judging expiry.
    const store = t.links(path, undefined, { clock: { now: () => T0 + 5 } });
    await untilOverlap(async (round) => {
      const keys = await seed(path, 100, `r${round}-`);
      // A holder that recorded sending the stored refresh token, then died.
      for (const key of keys) {
        const claim = await store.claimLease(key, "dead-holder", 1000, null);
        if (!claim.claimed) throw new Error("seed claim failed");
        expect(await store.confirmLease(key, claim.lease, 1, 1000, { mark: "sending" })).toBe(true);
      }
      const { results: won, overlapped } = await race<{ key: LinkKey; generation: number; interrupted: unknown }[]>(cs, (i) => ({
        cmd: "takeoverAll",
        keys: i % 2 === 0 ? keys : [...keys].reverse(),
        expect: { owner: "dead-holder", generation: 1 },
      }));
      const winners = new Map<string, number>();
      won.forEach((list, child) => {
        for (const w of list) {
          expect(winners.has(keyName(w.key))).toBe(false);
          expect(w).toMatchObject({ generation: 2, interrupted: { by: "dead-holder", at: T0 + 5 } });
          winners.set(keyName(w.key), child);
        }
      });
      expect(winners.size).toBe(keys.length);
      for (const key of keys) expect((await store.readLease(key))?.owner).toBe(`child-${winners.get(keyName(key))}`);
      return overlapped;
    });
  });

  it("exactly one of several commits with the same expectation succeeds", async () => {
    const path = t.dbPath();
    const cs = await spawnChildren(path);
    const store = t.links(path);
    await untilOverlap(async (round) => {
      const keys = await seed(path, 150, `r${round}-`);
      const { results: won, overlapped } = await race<LinkKey[]>(cs, (i) => ({ cmd: "commitAll", keys: i % 2 === 0 ? keys : [...keys].reverse() }));
      const winners = new Map<string, number>();
      won.forEach((list, child) => {
        for (const key of list) {
          expect(winners.has(keyName(key))).toBe(false);
          winners.set(keyName(key), child);
        }
      });
      expect(winners.size).toBe(keys.length);
      for (const key of keys) {
        const child = winners.get(keyName(key));
        expect(await store.get(key)).toMatchObject({ version: 2, refreshToken: `rt-from-${child}`, accessToken: `at-${child}` });
      }
      return overlapped;
    });
  });

  it("read-then-CAS rotation loops never lose or fork a refresh-token chain", async () => {
    const path = t.dbPath();
    const [key] = await seed(path, 1);
    const cs = await spawnChildren(path);
    const perChild = 25;
    const { results } = await race<{ chain: [string, string, number][]; attempts: number }>(cs, { cmd: "rotate", key, successes: perChild });

    // Every success consumed a distinct refresh token, and following them from
    // the seed visits every success once: a single chain, no lost update.
    const next = new Map<string, string>();
    const versions = new Set<number>();
    for (const { chain } of results) {
      for (const [from, to, version] of chain) {
        expect(next.has(from)).toBe(false);
        next.set(from, to);
        versions.add(version);
      }
    }
    const total = CHILDREN * perChild;
    expect(next.size).toBe(total);
    expect([...versions].sort((a, b) => a - b)).toEqual(Array.from({ length: total }, (_, i) => i + 2));
    let cur = "rt-1";
    for (let i = 0; i < total; i++) cur = next.get(cur) ?? "broken chain";
    const rec = await t.links(path).get(key!);
    expect(rec).toMatchObject({ version: 1 + total, refreshToken: cur });
    expect(results.reduce((n, r) => n + r.attempts, 0)).toBeGreaterThanOrEqual(total);
  });

  it("with the lease protocol, every leased commit succeeds and the chain stays linear", async () => {
    const path = t.dbPath();
    const [key] = await seed(path, 1);
    const cs = await spawnChildren(path);
    const rounds = 15;
    const { results } = await race<{ done: [string, string][]; waits: number }>(cs, { cmd: "leasedRotate", key, rounds });
    const next = new Map<string, string>();
    for (const { done } of results) {
      for (const [from, to] of done) {
        expect(next.has(from)).toBe(false);
        next.set(from, to);
      }
    }
    let cur = "rt-1";
    for (let i = 0; i < CHILDREN * rounds; i++) cur = next.get(cur) ?? "broken chain";
    const store = t.links(path);
    expect(await store.get(key!)).toMatchObject({ version: 1 + CHILDREN * rounds, refreshToken: cur });
    expect(await store.readLease(key!)).toBeNull();
  });
});

describe("two store instances in one process on one file", () => {
  it("one lease winner among N claims, one CAS winner among two commits", async () => {
    const path = t.dbPath();
    const a = t.links(path, new FakeSealer());
    const b = t.links(path, new FakeSealer());
    const key = { providerId: "github", userId: "alice" };
    await a.put(key, tokens(), T0);

    const claims = await Promise.all(
      Array.from({ length: 10 }, (_, i) => (i % 2 === 0 ? a : b).claimLease(key, `owner-${i}`, 60_000, null)),
    );
    expect(claims.filter((c) => c.claimed)).toHaveLength(1);
    expect(claims.filter((c) => !c.claimed && "held" in c && c.held?.owner === "owner-0")).toHaveLength(9);

    const expectation = { version: 1, refreshToken: "rt-1" };
    const [ra, rb] = await Promise.all([
      a.commitRefresh(key, expectation, { accessToken: "at-a", tokenType: "Bearer", refreshToken: "rt-a", expiresAt: null }, T0 + 1),
      b.commitRefresh(key, expectation, { accessToken: "at-b", tokenType: "Bearer", refreshToken: "rt-b", expiresAt: null }, T0 + 1),
    ]);
    expect([ra, rb].filter((r) => r !== undefined)).toHaveLength(1);
    expect(await b.get(key)).toEqual(ra);
    expect(await b.recordFailure(key, "rt-1", "invalid_grant", T0 + 2)).toBe(false);
    expect((await a.get(key))?.refreshToken).toBe("rt-a");
  });
});
