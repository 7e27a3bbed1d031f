/**
 * The cross-host rig on its own (the fault suites in this folder rely on
 * each part): the PostgreSQL proxy freezes and thaws a path, recognises the
 * LISTEN connection, cuts; a daemon under `unshare --uts` writes its own
 * hostname into its lease owner id; a host's clock steps after start; the
 * fake provider rotates and answers late, or never.
 */
import pg from "pg";
import { afterEach, describe, expect, it } from "vitest";
import { describeOutcome } from "../faults/support/broker-client.js";
import { expiredSeed } from "../faults/support/rig.js";
import type { FakeProvider } from "../support/fake-provider.js";
import { PgProxy } from "../support/pg-proxy.js";
import { usePostgres } from "../support/postgres.js";
import { useFakeProvider } from "../support/scoped-fakes.js";
import { Hosts, canUnshareUts, skipReason, until } from "./support/hosts.js";

const server = await usePostgres();
const unshare = canUnshareUts();

let hosts: Hosts | undefined;
afterEach(async () => {
  await hosts?.close();
  hosts = undefined;
});

/** A query's result, or "timeout" if none came within `ms`. */
async function within<T>(p: Promise<T>, ms: number): Promise<T | "timeout"> {
  let timer: NodeJS.Timeout | undefined;
  const timeout = new Promise<"timeout">((resolve) => (timer = setTimeout(() => resolve("timeout"), ms)));
  try {
    return await Promise.race([p, timeout]);
  } finally {
    clearTimeout(timer);
  }
}

async function refresh(f: FakeProvider, refreshToken: string, signal?: AbortSignal): Promise<{ status: number; body: Record<string, unknown> }> {
  const res = await fetch(f.tokenUrl, {
    method: "POST",
    headers: { "content-type": "application/x-www-form-urlencoded" },
    body: new URLSearchParams({ grant_type: "refresh_token", refresh_token: refreshToken, client_id: f.clientId, client_secret: f.clientSecret }),
    ...(signal !== undefined ? { signal } : {}),
  });
  return { status: res.status, body: (await res.json()) as Record<string, unknown> };
}

describe.skipIf(typeof server === "string")(`PgProxy${skipReason(server)}`, () => {
  it("forwards; freeze() stalls queries without closing; thaw() delivers them; freezeListen() stalls only the LISTEN connection; cut() resets", async () => {
    if (typeof server === "string") return;
    const url = await server.freshDatabase();
    const proxy = await PgProxy.start(url);
    const clients: pg.Client[] = [];
    const client = async (): Promise<pg.Client> => {
      const c = new pg.Client({ connectionString: proxy.rewrite(url) });
      c.on("error", () => undefined);
      await c.connect();
      clients.push(c);
      return c;
    };
    try {
      const q = await client();
      const listener = await client();
      await listener.query("LISTEN rig_channel");
      expect(proxy.stats()).toMatchObject({ open: 2, listen: 1 });
      expect((await q.query<{ one: number }>("SELECT 1 AS one")).rows[0]?.one).toBe(1);

      // Freeze everything: a query waits, and lands once thawed.
      proxy.freeze();
      const stalled = q.query<{ two: number }>("SELECT 2 AS two");
      expect(await within(stalled, 500)).toBe("timeout");
      proxy.thaw();
      expect((await stalled).rows[0]?.two).toBe(2);

      // Only the LISTEN connection: queries work, notifications wait.
      const heard: string[] = [];
      listener.on("notification", (m) => heard.push(m.payload ?? ""));
      expect(proxy.freezeListen()).toBe(1);
      await q.query("SELECT pg_notify('rig_channel', 'while-frozen')");
      expect((await q.query<{ three: number }>("SELECT 3 AS three")).rows[0]?.three).toBe(3);
      expect(await within(listener.query("SELECT 4"), 300)).toBe("timeout");
      expect(heard).toEqual([]);
      proxy.thaw();
      await until("the held notification", 2_000, () => heard.includes("while-frozen"));

      // Its backends are found by its upstream ports.
      const direct = new pg.Client({ connectionString: url });
      await direct.connect();
      clients.push(direct);
      const { rows } = await direct.query<{ n: number }>("SELECT count(*)::int AS n FROM pg_stat_activity WHERE client_port = ANY($1::int[])", [proxy.upstreamPorts()]);
      expect(rows[0]?.n).toBe(2);

      // Cut: both clients see their connection end.
      const ended = new Promise<void>((resolve) => q.once("end", () => resolve()));
      proxy.cut();
      await ended;
      await expect(q.query("SELECT 1")).rejects.toThrow();
    } finally {
      for (const c of clients) await c.end().catch(() => undefined);
      await proxy.close();
    }
  });
});

describe.skipIf(typeof server === "string")(`PgProxy: reconnecting listeners and closes while frozen${skipReason(server)}`, () => {
  it("freezeListen() lets a later LISTEN through; freezeListen({ reconnects: true }) holds it until thaw(); a close while frozen reaches the server only at the thaw", async () => {
    if (typeof server === "string") return;
    const url = await server.freshDatabase();
    const proxy = await PgProxy.start(url);
    const clients: pg.Client[] = [];
    const client = async (): Promise<pg.Client> => {
      const c = new pg.Client({ connectionString: proxy.rewrite(url) });
      c.on("error", () => undefined);
      await c.connect();
      clients.push(c);
      return c;
    };
    const direct = new pg.Client({ connectionString: url });
    await direct.connect();
    const backendsAt = async (ports: number[]): Promise<number> =>
      (await direct.query<{ n: number }>("SELECT count(*)::int AS n FROM pg_stat_activity WHERE client_port = ANY($1::int[])", [ports])).rows[0]?.n ?? 0;
    try {
      // Without reconnects: only the LISTEN connections of the moment (none here); a later LISTEN goes through.
      expect(proxy.freezeListen()).toBe(0);
      const first = await client();
      expect(await within(first.query("LISTEN rig_a"), 2_000)).not.toBe("timeout");
      proxy.thaw();

      // With reconnects: a connection that sends LISTEN later is frozen as it does, its LISTEN held.
      expect(proxy.freezeListen({ reconnects: true })).toBe(1);
      const later = await client();
      const heard: string[] = [];
      later.on("notification", (m) => heard.push(m.payload ?? ""));
      const listening = later.query("LISTEN rig_b");
      expect(await within(listening, 500)).toBe("timeout");
      expect(proxy.stats()).toMatchObject({ open: 2, frozen: 2, listen: 2 });
      await direct.query("SELECT pg_notify('rig_b', 'before')");
      proxy.thaw();
      await listening;
      await direct.query("SELECT pg_notify('rig_b', 'after')");
      await until("the notification after the thaw", 2_000, () => heard.includes("after"));
      expect(heard).toEqual(["after"]); // the LISTEN reached the server only at the thaw

      // A client that closes while frozen: the server learns of it only at the thaw.
      const ports = proxy.upstreamPorts();
      expect(await backendsAt(ports)).toBe(2);
      proxy.freeze();
      // end() resolves once the server's side has closed: not while frozen.
      const ending = Promise.all(clients.splice(0).map((c) => c.end()));
      expect(await within(ending, 300)).toBe("timeout");
      expect(await backendsAt(ports)).toBe(2);
      expect(proxy.stats().open).toBe(2);
      proxy.thaw();
      await ending;
      await until("the closed connections to reach the server", 3_000, async () => (await backendsAt(ports)) === 0);
      await until("the proxy to drop them", 3_000, () => proxy.stats().open === 0);
    } finally {
      for (const c of clients) await c.end().catch(() => undefined);
      await direct.end();
      await proxy.close();
    }
  });
});

describe("FakeProvider: late and lost answers", () => {
  it("answerAfterMs rotates at once and answers later; the spent token presented meanwhile is a replay", async () => {
    const f = await useFakeProvider({ expiresInSec: 120 });
    const seed = f.issue();
    f.failNext(1, { answerAfterMs: 800 });
    const started = performance.now();
    const late = refresh(f, seed.refreshToken);
    await until("the refresh to be processed", 2_000, () => f.refreshes === 1);
    expect(performance.now() - started).toBeLessThan(700);
    const answer = await late;
    expect(performance.now() - started).toBeGreaterThanOrEqual(750);
    expect(answer.status).toBe(200);
    expect(f.isValid(answer.body.access_token as string)).toBe(true);
    expect((await refresh(f, seed.refreshToken)).status).toBe(400);
    expect(f.replays).toBe(1);
  });

  it("neverAnswer rotates and holds the socket until the client gives up; lateAnswerMs makes every answer late", async () => {
    const f = await useFakeProvider({ expiresInSec: 120 });
    const seed = f.issue();
    f.failNext(1, { neverAnswer: true });
    const abort = new AbortController();
    const lost = refresh(f, seed.refreshToken, abort.signal);
    await until("the refresh to be processed", 2_000, () => f.refreshes === 1 && f.unanswered === 1);
    abort.abort();
    await expect(lost).rejects.toThrow();
    await until("the held request to end with its client", 2_000, () => f.inFlight === 0);

    const other = f.issue();
    f.lateAnswerMs = 300;
    const started = performance.now();
    expect((await refresh(f, other.refreshToken)).status).toBe(200);
    expect(performance.now() - started).toBeGreaterThanOrEqual(280);
    expect(f.replays).toBe(0);
  });
});

describe.skipIf(typeof server === "string" || !unshare)(`hosts: identity and clock${skipReason(server, unshare)}`, () => {
  it("each daemon writes its own hostname into its lease owner; a stepped clock shows in what it logs", async () => {
    if (typeof server === "string") return;
    hosts = await Hosts.start(server, { expiresInSec: 120 });
    const { fake } = hosts;
    const a = await hosts.host("host-a");
    const s = await hosts.host("host-s", { clock: true });
    await a.client.importLink("u", expiredSeed(fake));
    await a.client.importLink("v", expiredSeed(fake));

    const held = fake.holdNextTokenRequest();
    const call = a.client.obtain("u", { minValidMs: 0 });
    await held.arrived;
    const [lease] = await hosts.leases(["u"]);
    expect(lease?.lease_owner).toMatch(/^tb1:host-a:/);
    held.release();
    expect((await call).ok).toBe(true);

    // Stepped 1 h ahead after start: what it logs from then on carries its new time.
    const steppedAt = Date.now();
    await s.stepClock(3_600_000);
    const heldS = fake.holdNextTokenRequest();
    const callS = s.client.obtain("v", { minValidMs: 0 });
    await heldS.arrived;
    const [leaseS] = await hosts.leases(["v"]);
    expect(leaseS?.lease_owner).toMatch(/^tb1:skewed-host-s:/);
    heldS.release();
    const o = await callS;
    expect(o.ok, describeOutcome(o)).toBe(true);
    const times = [...s.daemon.serving.output().matchAll(/"time":"([^"]+)"/g)].map((m) => Date.parse(m[1]!));
    expect(Math.max(...times)).toBeGreaterThan(steppedAt + 3_500_000);
    expect(fake.replays).toBe(0);
  });
});
