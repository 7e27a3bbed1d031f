/**
 * The store as one simulated process reaches it: every call travels over
 * virtual time to one shared in-memory store (the database, which keeps
 * working while a client is paused), and its answer travels back in the
 * process's context. Faults: a process cut off from the database (its calls
 * fail after a client-side deadline), transient errors (busy, full), and a
 * write that lands but whose answer is lost. Writes wake other processes'
 * waiters, as PostgreSQL's NOTIFY does (`changed`).
 */
import type { CasExpectation, HeldLease, LeaseClaim, LeaseState, LinkKey, LinkMeta, LinkRecord, LinkStore, ListQuery, NewTokens, StoredTokens } from "../src/store/link-store.js";
import { StoreUnavailableError } from "../src/store/store-errors.js";
import type { Rng } from "./rng.js";
import type { SimProcess, VirtualTime } from "./virtual-time.js";

/** How long a call to an unreachable database waits before it fails (a client-side query deadline). */
export const QUERY_DEADLINE_MS = 2000;

/** Wakes waiters on a key when any process writes it. */
export class ChangeBus {
  readonly #waiters = new Map<string, Set<() => void>>();

  wait(key: LinkKey, wake: () => void): () => void {
    const k = keyOf(key);
    let set = this.#waiters.get(k);
    if (set === undefined) this.#waiters.set(k, (set = new Set()));
    set.add(wake);
    return () => set.delete(wake);
  }

  notify(key: LinkKey): void {
    const set = this.#waiters.get(keyOf(key));
    if (set === undefined) return;
    this.#waiters.delete(keyOf(key));
    for (const wake of set) wake();
  }
}

export interface StoreObserver {
  /** Called after every operation the database ran (check d reads the rows here). */
  afterOperation(op: string, key: LinkKey | undefined): void;
  /** A failure was recorded on the link: which refresh token it cleared. */
  failureRecorded(key: LinkKey, refreshToken: string): void;
  /** The database recorded that `proc` is about to send `refreshToken`. */
  sendMarked(key: LinkKey, refreshToken: string, proc: SimProcess): void;
}

export class SimStore implements LinkStore {
  cut = false;
  /** Transient faults still to inject (busy or full), one per call. */
  faults = 0;
  /** Writes still to apply with their answer lost (an I/O error after the commit). */
  lostAnswers = 0;

  constructor(
    private readonly time: VirtualTime,
    private readonly proc: SimProcess,
    private readonly db: LinkStore,
    private readonly rng: Rng,
    private readonly bus: ChangeBus,
    private readonly observer: StoreObserver,
  ) {}

  get(key: LinkKey): Promise<LinkRecord | undefined> {
    return this.#call("links.get", key, false, () => this.db.get(key));
  }
  put(key: LinkKey, tokens: StoredTokens, now: number): Promise<LinkRecord> {
    return this.#call("links.put", key, true, () => this.db.put(key, tokens, now));
  }
  commitRefresh(key: LinkKey, expect: CasExpectation, tokens: NewTokens, now: number): Promise<LinkRecord | undefined> {
    return this.#call("links.commitRefresh", key, true, () => this.db.commitRefresh(key, expect, tokens, now));
  }
  async recordFailure(key: LinkKey, refreshToken: string, reason: string, now: number): Promise<boolean> {
    return this.#call("links.recordFailure", key, true, async () => {
      const recorded = await this.db.recordFailure(key, refreshToken, reason, now);
      if (recorded) this.observer.failureRecorded(key, refreshToken);
      return recorded;
    });
  }
  readLease(key: LinkKey): Promise<LeaseState | null | undefined> {
    return this.#call("links.readLease", key, false, () => this.db.readLease(key));
  }
  claimLease(key: LinkKey, owner: string, ttlMs: number, expect: HeldLease | null, opts?: { onlyIfExpired?: boolean }): Promise<LeaseClaim> {
    return this.#call("links.claimLease", key, false, () => this.db.claimLease(key, owner, ttlMs, expect, opts));
  }
  confirmLease(key: LinkKey, lease: HeldLease, version: number, ttlMs: number, opts?: { mark?: "sending" | "clear" }): Promise<boolean> {
    return this.#call("links.confirmLease", key, false, async () => {
      const ok = await this.db.confirmLease(key, lease, version, ttlMs, opts);
      const token = ok && opts?.mark === "sending" ? (await this.db.get(key))?.refreshToken : undefined;
      if (typeof token === "string") this.observer.sendMarked(key, token, this.proc);
      return ok;
    });
  }
  releaseLease(key: LinkKey, lease: HeldLease, opts?: { keepSending?: boolean }): Promise<void> {
    return this.#call("links.releaseLease", key, true, () => this.db.releaseLease(key, lease, opts));
  }
  changed(key: LinkKey, ms: number): Promise<void> {
    return new Promise((resolve) => {
      let stop = (): void => undefined;
      const cancel = this.time.at(this.time.now + ms, this.proc, () => {
        stop();
        resolve();
      });
      stop = this.bus.wait(key, () => {
        cancel();
        this.time.at(this.time.now + this.rng.between(1, 5), this.proc, resolve);
      });
    });
  }
  delete(key: LinkKey): Promise<LinkRecord | undefined> {
    return this.#call("links.delete", key, true, () => this.db.delete(key));
  }
  list(query: ListQuery): Promise<LinkMeta[]> {
    return this.#call("links.list", undefined, false, () => this.db.list(query));
  }
  count(): Promise<number> {
    return this.#call("links.count", undefined, false, () => this.db.count());
  }
  close(): Promise<void> {
    return Promise.resolve();
  }

  #call<T>(op: string, key: LinkKey | undefined, notifies: boolean, run: () => Promise<T>): Promise<T> {
    const time = this.time;
    return new Promise<T>((resolve, reject) => {
      const back = (fn: () => void): void => {
        time.at(time.now + this.rng.between(0, 3), this.proc, fn);
      };
      if (this.cut) {
        time.at(time.now + QUERY_DEADLINE_MS, this.proc, () => reject(new StoreUnavailableError(op, "08006", 1000)));
        return;
      }
      if (this.faults > 0) {
        this.faults--;
        back(() => reject(new StoreUnavailableError(op, this.rng.next() < 0.5 ? "SQLITE_BUSY" : "SQLITE_FULL", 1000)));
        return;
      }
      const isWrite = notifies || op === "links.claimLease" || op === "links.confirmLease";
      const lose = isWrite && this.lostAnswers > 0;
      if (lose) this.lostAnswers--;
      time.at(time.now + this.rng.between(0, 3), null, () => {
        run().then(
          (value) => {
            this.observer.afterOperation(op, key);
            if (notifies && key !== undefined) this.bus.notify(key);
            back(() => (lose ? reject(new StoreUnavailableError(op, "SQLITE_IOERR_WRITE", 1000)) : resolve(value)));
          },
          (err: unknown) => back(() => reject(err)),
        );
      });
    });
  }
}

function keyOf(key: LinkKey): string {
  return `${key.providerId}\u0000${key.userId}`;
}
