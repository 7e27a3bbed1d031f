/**
 * One simulated run: N engines (processes on one or several hosts) over one
 * in-memory store and one provider model, all on virtual time. The world
 * applies commands and keeps what the checks need (checks.ts).
 */
import { RefreshEngine } from "../src/broker/engine.js";
import { noEvents } from "../src/broker/engine-events.js";
import type { Clock } from "../src/broker/clock.js";
import type { OwnerIdentity, ProcessProbe } from "../src/broker/lease-owner.js";
import type { ProviderConfig, RefreshSettings } from "../src/config/config.js";
import { BrokerError, domainError } from "../src/errors/index.js";
import { createLogger } from "../src/log.js";
import { ProviderRegistry } from "../src/providers/registry.js";
import type { LinkKey, LinkStore } from "../src/store/link-store.js";
import type { Violation } from "./checks.js";
import type { Command, RunConfig } from "./commands.js";
import { ProviderModel } from "./provider-model.js";
import { Rng } from "./rng.js";
import { ChangeBus, SimStore, type StoreObserver } from "./sim-store.js";
import { SimTokenEndpoint, type Flight } from "./sim-token-endpoint.js";
import { VirtualTime, type SimProcess } from "./virtual-time.js";

export const PROVIDER_ID = "sim";
/** The engine's settings in a simulated run: the daemon's shape, scaled down so runs are short. */
export const SETTINGS: RefreshSettings = {
  minValidForMs: 5_000,
  timeoutMs: 1_000,
  initialBackoffMs: 100,
  maxBackoffMs: 800,
  budgetMs: 2_500,
  providerConcurrency: 2,
  validate: false,
  misconfiguredBackoffMs: 1_000,
  leaseTtlMs: 3_000,
  answerTimeoutMs: 20_000,
  interruptedWindowMs: 30_000,
};
export const LIFETIME_MS = 30_000;
const START = Date.UTC(2026, 0, 1);

export interface Node {
  proc: SimProcess;
  engine: RefreshEngine;
  store: SimStore;
  endpoint: SimTokenEndpoint;
  /** When it last resumed (callers of a paused process wait for it). */
  resumedAt: number;
}

export interface Caller {
  node: Node;
  link: string;
  minValidMs: number;
  startedAt: number;
  /** Its place in the run's order of events (see World.storedAt). */
  startedSeq: number;
  deadlineAt: number;
  settledAt?: number;
  outcome?: string;
}

/** The link keys: one user per link, all on the simulated provider. */
export function keyOf(link: string): LinkKey {
  return { providerId: PROVIDER_ID, userId: link };
}

export class World {
  readonly time = new VirtualTime(START);
  readonly rng: Rng;
  readonly provider: ProviderModel;
  readonly bus = new ChangeBus();
  readonly nodes: Node[] = [];
  readonly callers: Caller[] = [];
  readonly flights: Flight[] = [];
  readonly links: string[];
  /** The refresh token each recorded failure cleared, by link. */
  readonly failedTokens = new Map<string, string>();
  /** Links deleted (and not linked again since), and when. */
  readonly unlinkedAt = new Map<string, number>();
  /** When each link was last re-linked. */
  readonly relinkedAt = new Map<string, number>();
  /** The largest clock step any process took. */
  maxOffset = 0;
  /**
   * When each refresh token was first committed to the row, as a place in the
   * run's order of events rather than a time: many things happen in one
   * virtual millisecond (a caller that asks a paused process, then the heal
   * that resumes it and lets it commit), and "stored before this caller
   * asked" must mean before, not in the same millisecond.
   */
  readonly storedAt = new Map<string, number>();
  #events = 0;
  /** What happened in the run, for the census's coverage line. */
  readonly stats = { heals: 0, failuresRecorded: 0, refreshedAhead: 0 };
  /** Refresh tokens whose send record a crashed process left on the row. */
  readonly orphanedSends = new Set<string>();
  /** Every send the database recorded, by whom (a crashed sender's outcome is unknown to everyone). */
  readonly sendMarks: Array<{ token: string; proc: SimProcess }> = [];
  /** Problems found while running (served tokens, row history). */
  readonly violations: Violation[] = [];
  readonly #providerConfig: ProviderConfig;
  readonly #settings: RefreshSettings;
  #pids = 100;
  /** Crashed processes, so a probe on their host finds them gone. */
  readonly #dead: SimProcess[] = [];
  readonly #log = createLogger("silent");

  readonly db: LinkStore;

  constructor(
    readonly config: RunConfig,
    openDb: (clock: { now(): number }) => LinkStore,
  ) {
    this.db = openDb({ now: () => this.time.now });
    this.rng = new Rng(config.seed);
    this.provider = new ProviderModel({ lifetimeMs: LIFETIME_MS, graceMs: config.graceMs, killsOlderAccess: config.killsOlderAccess, errorsIn200: config.killsOlderAccess }, this.rng);
    this.links = Array.from({ length: config.links }, (_, i) => `u${i}`);
    this.#providerConfig = simProviderConfig(config.graceMs, config.idleLifetimeMs);
    // Refreshing ahead is an actor of every engine: its timers run on the process's virtual clock.
    this.#settings = { ...SETTINGS, keepFreshForMs: config.keepFreshForMs ?? 0 };
    for (let i = 0; i < config.engines; i++) this.#spawn(`h${i % config.hosts}`);
  }

  /** Links every user: the provider issues a grant and the store gets its first tokens. */
  async seed(): Promise<void> {
    for (const link of this.links) {
      const t = this.provider.issueGrant(link, this.time.now);
      await this.db.put(keyOf(link), { accessToken: t.accessToken, tokenType: "bearer", refreshToken: t.refreshToken, expiresAt: t.expiresAt, extra: {} }, this.time.now);
    }
  }

  get observer(): StoreObserver {
    return {
      afterOperation: (op, key) => {
        if (op !== "links.commitRefresh" || key === undefined) return;
        // When each refresh token first reached the row (the store answers within this turn).
        void this.db.get(key).then((rec) => {
          if (rec?.refreshToken != null && !this.storedAt.has(rec.refreshToken)) this.storedAt.set(rec.refreshToken, ++this.#events);
        });
      },
      failureRecorded: (key, refreshToken) => this.failedTokens.set(key.userId, refreshToken),
      sendMarked: (_key, token, proc) => this.sendMarks.push({ token, proc }),
    };
  }

  node(i: number): Node {
    return this.nodes[i % this.nodes.length] as Node;
  }

  /** Applies one command; time passes only in `advance`. */
  async apply(c: Command): Promise<void> {
    switch (c.t) {
      case "obtain":
        this.obtain(this.node(c.e), this.links[c.link % this.links.length] as string, c.minValid, c.deadline);
        break;
      case "advance":
        await this.time.runUntil(this.time.now + c.ms);
        break;
      case "pause":
        this.node(c.e).proc.paused = true;
        break;
      case "resume":
        this.#resume(this.node(c.e));
        break;
      case "crash": {
        const n = this.node(c.e);
        // A send record it leaves on a row: whatever it learned about that send dies with it.
        for (const link of this.links) {
          const lease = await this.db.readLease(keyOf(link));
          const rec = await this.db.get(keyOf(link));
          if (typeof rec?.refreshToken !== "string") continue;
          const marked = this.sendMarks.some((m) => m.proc === n.proc && m.token === rec.refreshToken);
          if (marked || (lease?.sending !== undefined && lease.owner.includes(`:${n.proc.pid}:`))) this.orphanedSends.add(rec.refreshToken);
        }
        n.proc.dead = true;
        this.#dead.push(n.proc);
        this.nodes[this.nodes.indexOf(n)] = this.#spawn(n.proc.host, false);
        break;
      }
      case "cutStore":
        this.node(c.e).store.cut = c.on;
        break;
      case "cutProvider":
        this.node(c.e).endpoint.cut = c.on;
        break;
      case "answer":
        this.provider.queue(c.mode, c.count);
        break;
      case "storeFault":
        if (c.kind === "transient") this.node(c.e).store.faults += c.count;
        else this.node(c.e).store.lostAnswers += c.count;
        break;
      case "stepClock":
        this.node(c.e).proc.offset += c.ms;
        this.maxOffset = Math.max(this.maxOffset, this.node(c.e).proc.offset);
        break;
      case "relink": {
        const link = this.links[c.link % this.links.length] as string;
        const t = this.provider.issueGrant(link, this.time.now);
        await this.db.put(keyOf(link), { accessToken: t.accessToken, tokenType: "bearer", refreshToken: t.refreshToken, expiresAt: t.expiresAt, extra: {} }, this.time.now);
        this.failedTokens.delete(link);
        this.relinkedAt.set(link, this.time.now);
        this.unlinkedAt.delete(link);
        break;
      }
      case "freezeAfterSend": {
        const n = this.node(c.e);
        n.endpoint.onProcessed = () => {
          n.endpoint.onProcessed = () => undefined;
          if (c.how === "pause") n.proc.paused = true;
          else n.store.cut = true;
          if (c.forMs > 0) {
            this.time.at(this.time.now + c.forMs, null, () => {
              if (c.how === "pause") this.#resume(n);
              else n.store.cut = false;
            });
          }
        };
        break;
      }
      case "unlink": {
        const link = this.links[c.link % this.links.length] as string;
        await this.db.delete(keyOf(link));
        this.unlinkedAt.set(link, this.time.now);
        break;
      }
    }
  }

  /** A caller asks `node` for a token; it stops waiting at its deadline (the refresh it started runs on). */
  obtain(node: Node, link: string, minValidMs: number, deadlineMs: number): Caller {
    const caller: Caller = { node, link, minValidMs, startedAt: this.time.now, startedSeq: ++this.#events, deadlineAt: this.time.now + deadlineMs };
    this.callers.push(caller);
    const ctl = new AbortController();
    const cancel = this.time.at(caller.deadlineAt, node.proc, () => ctl.abort());
    node.engine.obtain(keyOf(link), minValidMs, ctl.signal).then(
      (rec) => {
        cancel();
        caller.settledAt = this.time.now;
        caller.outcome = "OK";
        // Check (c): what is served is valid at the provider for what the caller asked, now.
        const validUntil = this.provider.validUntil(link, rec.accessToken);
        // Expiry times written by a host whose clock was stepped are off by the step: a data-time
        // skew the checks tolerate (leases are what must not depend on a host's clock).
        const tolerance = this.maxOffset;
        // A token killed by a newer issue counts only once that issue was stored before this
        // caller asked: until then no process could know it was replaced.
        const killer = validUntil === undefined ? this.provider.killedBy.get(rec.accessToken) : undefined;
        const replacedKnown = killer === undefined || (this.storedAt.get(killer) ?? Number.POSITIVE_INFINITY) < caller.startedSeq;
        // After an unlink no caller that asked later gets a token; after a re-link the old
        // grant's tokens are replaced (it may be another account).
        // (A process holding a refreshed token it could not store serves it from memory: cut off,
        // it cannot know of the unlink or the re-link — docs/design.md §3 invariant 10.)
        const couldKnow = node.engine.pendingCommits === 0;
        if ((this.unlinkedAt.get(link) ?? Number.POSITIVE_INFINITY) <= caller.startedAt && couldKnow) {
          this.violations.push({ check: "c", kind: "served a token of an unlinked link", detail: `${node.proc.name} served ${link} a token after it was unlinked` });
        } else if (this.provider.ofReplacedGrant(link, rec.accessToken) && (this.relinkedAt.get(link) ?? Number.POSITIVE_INFINITY) <= caller.startedAt && couldKnow) {
          this.violations.push({ check: "c", kind: "served a token of a replaced grant", detail: `${node.proc.name} served ${link} a token of the grant a re-link replaced` });
        } else if ((validUntil === undefined && replacedKnown) || (validUntil !== undefined && validUntil + tolerance < this.time.now + minValidMs)) {
          this.violations.push({
            check: "c",
            kind: "served a token the provider does not honour for min_valid_for",
            detail: `${node.proc.name} served ${link} a token ${validUntil === undefined ? "the provider does not accept" : `valid ${validUntil - this.time.now} ms more`} for min_valid_for ${minValidMs} ms`,
          });
        }
      },
      (err: unknown) => {
        cancel();
        caller.settledAt = this.time.now;
        // As the wire sees it (rpc/wire-error.ts maps store faults and decrypt failures the same way).
        const e = domainError(err);
        caller.outcome = e instanceof BrokerError ? e.reason : ctl.signal.aborted ? "DEADLINE_EXCEEDED" : `THROWN ${String(err)}`;
        if (caller.outcome === "INTERNAL" || caller.outcome.startsWith("THROWN")) {
          this.violations.push({ check: "internal", kind: "internal error", detail: `${node.proc.name} answered ${link} with ${caller.outcome}: ${String(err)}` });
        }
      },
    );
    return caller;
  }

  /** Faults stop: every process resumes and reaches the database and the provider; answers are normal. */
  heal(): void {
    this.provider.clearQueue();
    for (const n of this.nodes) {
      n.store.cut = false;
      n.store.faults = 0;
      n.store.lostAnswers = 0;
      n.endpoint.cut = false;
      n.endpoint.onProcessed = () => undefined;
      if (n.proc.paused) this.#resume(n);
    }
  }

  #resume(n: Node): void {
    if (!n.proc.paused) return;
    n.resumedAt = this.time.now;
    this.time.resume(n.proc);
  }

  #spawn(host: string, initial = true): Node {
    const pid = this.#pids++;
    const proc: SimProcess = { name: `p${pid}@${host}`, host, pid, paused: false, dead: false, offset: 0 };
    const time = this.time;
    const clock: Clock = { now: () => time.now + proc.offset, sleep: (ms, signal) => time.sleep(proc, ms, signal) };
    const identity: OwnerIdentity = { host, bootId: "boot", pidNamespace: "4026531836", pid, startTicks: String(pid), nonce: `n${pid}` };
    const probe: ProcessProbe = (other) => {
      const p = this.nodes.find((n) => n.proc.host === host && n.proc.pid === other)?.proc ?? this.#dead.find((d) => d.host === host && d.pid === other);
      return p === undefined || p.dead ? null : String(other);
    };
    const store = new SimStore(time, proc, this.db, this.rng, this.bus, this.observer);
    const endpoint = new SimTokenEndpoint(time, proc, this.provider, this.rng, this.flights);
    const engine = new RefreshEngine({
      store,
      providers: new ProviderRegistry([this.#providerConfig], { publicUrl: "http://127.0.0.1:7481", refresh: this.#settings }),
      settings: this.#settings,
      log: this.#log,
      clock,
      random: () => this.rng.next(),
      tokenEndpoint: endpoint,
      identity,
      probe,
      events: {
        ...noEvents,
        healed: () => this.stats.heals++,
        failureRecorded: () => this.stats.failuresRecorded++,
        refreshedAhead: (_key, outcome) => {
          if (outcome === "REFRESHED") this.stats.refreshedAhead++;
        },
      },
    });
    const node: Node = { proc, engine, store, endpoint, resumedAt: time.now };
    if (initial) this.nodes.push(node);
    return node;
  }
}

function simProviderConfig(graceMs: number, idleLifetimeMs: number | undefined): ProviderConfig {
  return {
    ...(idleLifetimeMs !== undefined ? { refreshTokenIdleLifetimeMs: idleLifetimeMs } : {}),
    id: PROVIDER_ID,
    type: "oauth2",
    displayName: "Simulated provider",
    clientId: "sim-client",
    clientSecret: "sim-secret",
    tokenUrl: "http://127.0.0.1:9/token",
    scopes: [],
    extraTokenKeys: [],
    pkceMethods: ["S256"],
    deviceFlow: false,
    noRefresh: false,
    rotationGraceMs: graceMs,
    resendIsProbe: false,
    tokenAuthMethod: "client_secret_basic",
    authUrlParams: {},
    revocation: "none",
    quirks: "standard",
  };
}
