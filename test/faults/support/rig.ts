/**
 * A fault-test rig: one fake provider, one store directory, and any number of
 * `tokenbroker serve` processes on that store, each with a caller and the
 * signals a test sends it (SIGSTOP/SIGCONT/SIGKILL). close() undoes it all,
 * resuming a paused daemon first so that its shutdown can run.
 */
import { randomBytes } from "node:crypto";
import { expect } from "vitest";
import { startServe, type ServingDaemon } from "../../support/cli.js";
import { tempDir } from "../../support/temp-dir.js";
import { startFakeProvider, type FakeProvider, type FakeProviderOptions } from "../../support/fake-provider.js";
import { BrokerClient, PROVIDER_ID, describeOutcome } from "./broker-client.js";

export interface DaemonOptions {
  /** Merged over the rig's refresh defaults (refresh.lease_ttl, refresh.timeout, …). */
  refresh?: Record<string, unknown>;
  /** Merged into the provider's config (rotation_grace, default_token_lifetime, revoke_url, …). */
  provider?: Record<string, unknown>;
  /** The SQLite file (default: tb.db in the rig's directory). */
  storePath?: string;
  /** The whole `store` section instead (a fleet's PostgreSQL). */
  store?: Record<string, unknown>;
  /** Also serve the web listener (for /healthz) on a free loopback port. */
  http?: boolean;
  /** Node options for the daemon process (e.g. an --import preload that skews its clock). */
  nodeArgs?: string[];
  /** Extra environment of the daemon process. */
  env?: NodeJS.ProcessEnv;
  /** A command prefix that execs the daemon (e.g. unshare into a UTS namespace of its own: another host). */
  wrap?: string[];
}

export interface RigDaemon {
  readonly serving: ServingDaemon;
  readonly client: BrokerClient;
  pause(): void;
  resume(): void;
  /** SIGKILL, and waits until the process is gone. */
  kill(): Promise<void>;
  /** The process has not exited (it may be paused). */
  alive(): boolean;
}

/** Fast retries so a fault test spends its time on the fault, not on backoff. */
const REFRESH_DEFAULTS = { timeout: "5s", retry_budget: "3s", initial_backoff: "50ms", max_backoff: "200ms" };

export class FaultRig {
  readonly #daemons: Array<RigDaemon & { paused: boolean }> = [];

  private constructor(
    readonly fake: FakeProvider,
    readonly dir: string,
  ) {}

  static async start(fakeOpts: FakeProviderOptions = {}): Promise<FaultRig> {
    return new FaultRig(await startFakeProvider(fakeOpts), tempDir("tb-faults-"));
  }

  config(opts: DaemonOptions = {}): Record<string, unknown> {
    const fake = this.fake;
    return {
      // Each daemon gets its own socket; the store is shared.
      listen: { grpc: [`unix://${this.dir}/tb-${randomBytes(3).toString("hex")}.sock`], ...(opts.http === true ? { http: "tcp://127.0.0.1:0" } : {}) },
      store: opts.store ?? { sqlite: { path: opts.storePath ?? `${this.dir}/tb.db` } },
      encryption: { keys_file: `${this.dir}/keys` },
      refresh: { ...REFRESH_DEFAULTS, ...opts.refresh },
      shutdown_grace: "3s",
      providers: [{ id: PROVIDER_ID, type: "oauth2", client_id: fake.clientId, client_secret: fake.clientSecret, token_url: fake.tokenUrl, ...opts.provider }],
    };
  }

  async daemon(opts: DaemonOptions = {}): Promise<RigDaemon> {
    // Each daemon its own config file: daemons may be started at once.
    const serving = await startServe(this.config(opts), this.dir, {
      nodeArgs: opts.nodeArgs ?? [],
      configName: `config-${randomBytes(3).toString("hex")}.yaml`,
      ...(opts.env !== undefined ? { env: opts.env } : {}),
      ...(opts.wrap !== undefined ? { wrap: opts.wrap } : {}),
    });
    const child = serving.child;
    const exited = new Promise<void>((resolve) => {
      if (child.exitCode !== null || child.signalCode !== null) resolve();
      else child.once("exit", () => resolve());
    });
    const d = {
      serving,
      client: new BrokerClient(serving.unixTarget!),
      paused: false,
      pause() {
        child.kill("SIGSTOP");
        d.paused = true;
      },
      resume() {
        if (!d.paused) return;
        child.kill("SIGCONT");
        d.paused = false;
      },
      async kill() {
        child.kill("SIGKILL");
        d.paused = false;
        await exited;
      },
      alive: () => child.exitCode === null && child.signalCode === null,
    };
    this.#daemons.push(d);
    return d;
  }

  async close(): Promise<void> {
    // The provider goes first: a request it still holds would keep a daemon's shutdown waiting.
    await this.fake.close();
    for (const d of this.#daemons) {
      d.resume();
      d.client.close();
    }
    await Promise.all(this.#daemons.map((d) => stopWithin(d.serving, 10_000)));
  }
}

/** SIGTERM, then SIGKILL if the daemon has not exited in time (a test must never hang on it). */
async function stopWithin(serving: ServingDaemon, ms: number): Promise<void> {
  const timer = setTimeout(() => serving.child.kill("SIGKILL"), ms);
  try {
    await serving.stop();
  } finally {
    clearTimeout(timer);
  }
}

export const sleep = (ms: number): Promise<void> => new Promise((resolve) => setTimeout(resolve, ms));

/** A seed for a link whose access token has already expired, so the first call refreshes. */
export function expiredSeed(fake: FakeProvider): { accessToken: string; refreshToken: string; expiresAt: number } {
  const t = fake.issue({ accessTtlSec: 1 });
  return { accessToken: t.accessToken, refreshToken: t.refreshToken, expiresAt: Date.now() - 60_000 };
}

/**
 * After a storage fault has cleared: `fresh`, a new process that knows only
 * what reached the database, refreshes `user` by presenting `rotated` (the
 * token the provider issued during the fault; `presented` lists every refresh
 * token presented). Then every daemon serves a valid token, has no failure
 * recorded and is alive, and the provider saw exactly those two refreshes.
 */
export async function expectRotatedTokenCommitted(
  rig: FaultRig,
  user: string,
  fresh: RigDaemon,
  others: RigDaemon[],
  presented: Array<string | undefined>,
  rotated: string | undefined,
): Promise<void> {
  const { fake } = rig;
  const next = await fresh.client.obtain(user, { minValidMs: 0, deadlineMs: 20_000 });
  expect(next.ok, describeOutcome(next)).toBe(true);
  if (next.ok) expect(fake.isValid(next.token.accessToken)).toBe(true);
  expect(presented).toHaveLength(2);
  expect(presented[1]).toBe(rotated);
  expect(fake.replays).toBe(0);
  for (const p of [fresh, ...others]) {
    const now = await p.client.obtain(user, { minValidMs: 0 });
    expect(now.ok && fake.isValid(now.token.accessToken), describeOutcome(now)).toBe(true);
    expect((await p.client.getLink(user)).refreshFailure).toBeUndefined();
    expect(p.alive()).toBe(true);
  }
  expect(fake.tokenRequests).toBe(2);
  expect(fake.errors).toEqual([]);
}
