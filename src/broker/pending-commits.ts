import type { Logger } from "../log.js";
import { StoreUnavailableError } from "../store/store-errors.js";
import type { LinkKey, LinkRecord } from "../store/link-store.js";
import type { Clock } from "./clock.js";
import type { Random } from "./random.js";

/** What a held commit does once: resolves with the committed record, or undefined when the row changed (CAS failed). */
export type CommitOnce = () => Promise<LinkRecord | undefined>;

export interface PendingCommit {
  /** The record as it will read once committed: what callers get meanwhile. */
  readonly record: LinkRecord;
  /** Settles when the commit landed (the committed record) or was refused by the CAS (undefined). */
  readonly settled: Promise<LinkRecord | undefined>;
}

const FIRST_RETRY_MS = 50;
/**
 * Prompt: while a commit is held, other processes see an interrupted refresh
 * and wait; the moment the database is back the answer should land
 * (docs/design.md §3 invariant 10).
 */
const MAX_RETRY_MS = 1_000;

/**
 * Refreshed tokens whose commit hit a storage fault (docs/design.md §3
 * invariant 10). The provider has already rotated the refresh token, so
 * dropping these would cost the user their link: each is retried with
 * jittered backoff for as long as the process lives, and served from memory
 * until it lands.
 */
export class PendingCommits {
  readonly #byKey = new Map<string, PendingCommit>();

  constructor(
    private readonly clock: Clock,
    private readonly log: Logger,
    private readonly random: Random,
  ) {}

  get size(): number {
    return this.#byKey.size;
  }

  get(lockKey: string): PendingCommit | undefined {
    return this.#byKey.get(lockKey);
  }

  /**
   * Takes over a commit whose first attempt failed with `first`; retries
   * `commit` until it lands or the CAS refuses it, calling `renew` before
   * each attempt (the lease, so other processes keep waiting for this one).
   */
  hold(lockKey: string, key: LinkKey, record: LinkRecord, commit: CommitOnce, first: StoreUnavailableError, renew: () => Promise<unknown>): PendingCommit {
    this.log.error({ provider: key.providerId, user: key.userId, attempt: 1, err: { code: first.code } }, "storing a refreshed token failed; holding it in memory and retrying");
    const settled = this.#retry(key, commit, renew).finally(() => this.#byKey.delete(lockKey));
    const pending = { record, settled };
    this.#byKey.set(lockKey, pending);
    return pending;
  }

  /** Waits for every held commit until `deadline` (epoch ms); returns the keys still pending. */
  async drain(deadline: number): Promise<LinkKey[]> {
    const all = [...this.#byKey.values()];
    if (all.length === 0) return [];
    const left = Math.max(0, deadline - this.clock.now());
    const timeout = new AbortController();
    await Promise.race([Promise.allSettled(all.map((pending) => pending.settled)), this.clock.sleep(left, timeout.signal).catch(() => undefined)]);
    timeout.abort();
    return [...this.#byKey.values()].map((pending) => ({ providerId: pending.record.providerId, userId: pending.record.userId }));
  }

  async #retry(key: LinkKey, commit: CommitOnce, renew: () => Promise<unknown>): Promise<LinkRecord | undefined> {
    for (let attempt = 2; ; attempt++) {
      const ceiling = Math.min(MAX_RETRY_MS, FIRST_RETRY_MS * 2 ** (attempt - 2));
      await this.clock.sleep(ceiling / 2 + this.random() * (ceiling / 2));
      await renew().catch(() => undefined);
      try {
        const committed = await commit();
        this.log.info({ provider: key.providerId, user: key.userId, attempt, committed: committed !== undefined }, "held refreshed token stored");
        return committed;
      } catch (err) {
        if (!(err instanceof StoreUnavailableError)) {
          this.log.error({ provider: key.providerId, user: key.userId, attempt, err: { message: String(err) } }, "storing a held refreshed token failed for good");
          throw err;
        }
        this.log.error({ provider: key.providerId, user: key.userId, attempt, err: { code: err.code } }, "storing a refreshed token failed; retrying");
      }
    }
  }
}
