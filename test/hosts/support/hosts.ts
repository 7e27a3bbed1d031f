/**
 * The cross-host fault rig (issue 18): daemons that are each another host —
 * a UTS namespace of its own with its own hostname (`unshare --uts`), so a
 * lease owner on another host is judged only by its lease's expiry — on one
 * PostgreSQL database, each through a TCP proxy of its own (PgProxy) that
 * can freeze that host's path to the database, or only its LISTEN
 * connection, or cut it; a host's PostgreSQL backends can be stopped
 * (SIGSTOP, found by the proxy's upstream ports in pg_stat_activity); a
 * host's wall clock can be stepped after start (the skewed-host preload).
 * Built on Fleet (one fresh database, one fake provider, FaultRig daemons).
 *
 *   const hosts = await Hosts.start(server, { expiresInSec: 120 });
 *   const a = await hosts.host("host-a", { refresh: { lease_ttl: "2s" } });
 *   const s = await hosts.host("host-s", { clock: true });
 *   a.proxy.freeze(); … a.proxy.thaw();
 *   await s.stepClock(10 * 60_000);
 *   await a.stopBackends(); … a.continueBackends();
 *   await hosts.close();            // thaws, continues, stops everything
 */
import { execFileSync } from "node:child_process";
import { existsSync, readFileSync, writeFileSync } from "node:fs";
import { join } from "node:path";
import pg from "pg";
import type { BrokerClient } from "../../faults/support/broker-client.js";
import { sleep, type DaemonOptions, type RigDaemon } from "../../faults/support/rig.js";
import { Fleet, SKEWED_HOST } from "../../fleet/support/fleet.js";
import type { FakeProvider, FakeProviderOptions } from "../../support/fake-provider.js";
import { PgProxy } from "../../support/pg-proxy.js";
import type { PgServer } from "../../support/postgres.js";

export interface HostOptions extends DaemonOptions {
  /** Merged over the fleet's store.postgres section (listen, statement_timeout, listen_freshness, …). */
  postgres?: Record<string, unknown>;
  /** Preload the steppable clock (stepClock); starts with no skew. */
  clock?: boolean;
}

export interface Host {
  readonly name: string;
  readonly daemon: RigDaemon;
  readonly client: BrokerClient;
  /** This host's path to the database. */
  readonly proxy: PgProxy;
  /** The daemon's pid (unshare and sh exec it). */
  readonly pid: number;
  /** Steps this host's wall clock to `skewMs` ahead of real time (needs `clock: true`); resolves once applied. */
  stepClock(skewMs: number): Promise<void>;
  /** This host's PostgreSQL backends (pg_stat_activity rows whose client port is one of its proxy's upstream ports). */
  backends(): Promise<number[]>;
  /**
   * SIGSTOP of this host's backends; connections it opens meanwhile are held
   * at its proxy (a server that stopped answering this host). Returns the pids.
   */
  stopBackends(): Promise<number[]>;
  /** SIGCONT of the stopped backends; new connections go through again. */
  continueBackends(): void;
}

/** The database's clock in epoch ms, as the store keeps times. */
export const DB_NOW_MS = "(extract(epoch FROM clock_timestamp()) * 1000)::int8";

/** A lease as the database sees it, judged by the database's clock. */
export interface LeaseRow {
  user_id: string;
  lease_owner: string | null;
  /** lease_until <= the database's now. */
  expired: boolean | null;
  /** A send is recorded on the row. */
  sending: boolean;
  has_refresh_token: boolean;
  /** A failure is recorded (the link needs re-linking). */
  failed: boolean;
  version: number;
}

export class Hosts {
  readonly #hosts: Host[] = [];
  readonly #proxies: PgProxy[] = [];
  readonly #stopped = new Set<number>();
  #started = 0;

  private constructor(
    readonly fleet: Fleet,
    /** A direct connection to the fleet's database (not through any proxy): the test's view of the rows. */
    readonly db: pg.Client,
  ) {}

  static async start(server: PgServer, fakeOpts: FakeProviderOptions = {}): Promise<Hosts> {
    const fleet = await Fleet.start(server, fakeOpts);
    const db = new pg.Client({ connectionString: fleet.url, application_name: "tokenbroker-test" });
    db.on("error", () => undefined);
    await db.connect();
    return new Hosts(fleet, db);
  }

  get fake(): FakeProvider {
    return this.fleet.fake;
  }

  get dir(): string {
    return this.fleet.rig.dir;
  }

  /**
   * A daemon on a host called `name` (a UTS namespace of its own with that
   * hostname; two daemons given one name are two processes on one host), its
   * database path through a proxy of its own.
   */
  async host(name: string, opts: HostOptions = {}): Promise<Host> {
    if (!/^[a-z][a-z0-9-]{0,30}$/.test(name)) throw new Error(`host name ${name}: lower-case letters, digits and '-'`);
    const { postgres, clock, ...rest } = opts;
    const proxy = await PgProxy.start(this.fleet.url);
    this.#proxies.push(proxy);
    // Per daemon (two daemons may share a host name: two processes on one host).
    const n = this.#started++;
    const urlFile = join(this.dir, `pg-url-${name}-${n}`);
    writeFileSync(urlFile, `${proxy.rewrite(this.fleet.url)}\n`, { mode: 0o600 });
    const clockFile = join(this.dir, `clock-${name}-${n}`);
    const daemon = await this.fleet.daemon({
      ...rest,
      postgres: { url_file: urlFile, ...postgres },
      wrap: ["unshare", "--uts", "--", "sh", "-c", 'hostname "$0" && exec "$@"', name],
      ...(clock === true
        ? {
            nodeArgs: [...(rest.nodeArgs ?? []), "--import", SKEWED_HOST],
            env: { ...rest.env, TOKENBROKER_TEST_SKEW_MS: "0", TOKENBROKER_TEST_CLOCK_FILE: clockFile },
          }
        : {}),
    });
    const pid = daemon.serving.child.pid;
    if (pid === undefined) throw new Error(`host ${name}: no pid`);
    const stopped = this.#stopped;
    const db = this.db;
    const backends = async (): Promise<number[]> => {
      const ports = proxy.upstreamPorts();
      const { rows } = await db.query<{ pid: number }>("SELECT pid FROM pg_stat_activity WHERE datname = current_database() AND client_port = ANY($1::int[])", [ports]);
      return rows.map((r) => r.pid);
    };
    const host: Host = {
      name,
      daemon,
      client: daemon.client,
      proxy,
      pid,
      async stepClock(skewMs: number) {
        if (clock !== true) throw new Error(`host ${name} was started without clock: true`);
        const applied = `${clockFile}.applied`;
        writeFileSync(clockFile, String(Math.round(skewMs)));
        process.kill(pid, "SIGUSR2");
        await until(`host ${name}'s clock to step`, 2_000, async () => existsSync(applied) && readFileSync(applied, "utf8") === String(Math.round(skewMs)));
      },
      backends,
      async stopBackends() {
        proxy.holdNew();
        const pids = await backends();
        for (const p of pids) {
          process.kill(p, "SIGSTOP");
          stopped.add(p);
        }
        return pids;
      },
      continueBackends() {
        for (const p of [...stopped]) {
          try {
            process.kill(p, "SIGCONT");
          } catch {
            // gone
          }
          stopped.delete(p);
        }
        proxy.thaw();
      },
    };
    this.#hosts.push(host);
    return host;
  }

  /** Leases of the given users (all when omitted), in user order. */
  async leases(users?: string[]): Promise<LeaseRow[]> {
    const { rows } = await this.db.query<LeaseRow>(
      `SELECT user_id, lease_owner, lease_until <= ${DB_NOW_MS} AS expired, refresh_sent_at IS NOT NULL AS sending,
              refresh_token IS NOT NULL AS has_refresh_token, failure_reason IS NOT NULL AS failed, version::int AS version
         FROM links WHERE ($1::text[] IS NULL OR user_id = ANY($1::text[])) ORDER BY user_id`,
      [users ?? null],
    );
    return rows;
  }

  /** Waits (bounded) until every given user's lease has an owner and has expired by the database's clock. */
  async untilLeasesExpired(users: string[], ms: number): Promise<LeaseRow[]> {
    let last: LeaseRow[] = [];
    await until(`the leases of ${users.join(", ")} to expire`, ms, async () => {
      last = await this.leases(users);
      return last.length === users.length && last.every((r) => r.lease_owner !== null && r.expired === true);
    });
    return last;
  }

  /** Thaws every proxy and continues every stopped backend, then stops the daemons and closes everything. */
  async close(): Promise<void> {
    for (const h of this.#hosts) h.continueBackends();
    for (const p of this.#proxies) p.thaw();
    try {
      await this.fleet.close();
    } finally {
      for (const p of this.#proxies) await p.close();
      await this.db.end().catch(() => undefined);
    }
  }
}

/** Polls `check` every 50 ms until it holds; throws naming `what` after `ms`. */
export async function until(what: string, ms: number, check: () => Promise<boolean> | boolean): Promise<void> {
  const end = Date.now() + ms;
  while (!(await check())) {
    if (Date.now() > end) throw new Error(`timed out after ${ms} ms waiting for ${what}`);
    await sleep(50);
  }
}

/** Whether `unshare --uts` can give a process a hostname of its own here (root, or a user namespace). */
export function canUnshareUts(): boolean {
  try {
    return execFileSync("unshare", ["--uts", "--", "sh", "-c", "hostname tb-probe && hostname"], { encoding: "utf8", stdio: ["ignore", "pipe", "ignore"] }).trim() === "tb-probe";
  } catch {
    return false;
  }
}

/**
 * Why a cross-host suite is skipped, for its title (empty when it runs):
 * PostgreSQL unavailable (usePostgres' reason), or no `unshare --uts`.
 */
export function skipReason(server: unknown, unshare?: boolean): string {
  if (typeof server === "string") return ` (skipped: ${server})`;
  if (unshare === false) return " (skipped: unshare --uts needs root or a user namespace)";
  return "";
}
