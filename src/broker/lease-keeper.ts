import type { Logger } from "../log.js";
import { StoreUnavailableError } from "../store/store-errors.js";
import type { HeldLease, LinkKey, LinkStore } from "../store/link-store.js";
import type { Clock } from "./clock.js";

/**
 * Keeps a claimed lease alive while this process works under it, and is the
 * one gate every send of a refresh token passes (docs/design.md §3
 * invariants 7 and 10): `confirmSending()` renews the lease conditionally on
 * owner, generation and row version, and records that the stored refresh
 * token is being sent, in one write, before each request; `answered()` clears
 * that record in the same kind of write once the provider answered without
 * rotating (a non-2xx), so a pause during the backoff that follows leaves an
 * ordinary expired lease, not an interrupted refresh. Between requests
 * (during a slow provider call or a Retry-After backoff) a heartbeat renews
 * it every third of its TTL, so it never lapses under a live holder. Every
 * expiry is the store's to judge (invariant 13): no time is passed in.
 */
export interface LeaseKeeperOptions {
  store: LinkStore;
  key: LinkKey;
  /** The lease claimed on the row. */
  lease: HeldLease;
  /** The row's version when the lease was claimed: a renewal on a changed row fails. */
  version: number;
  ttlMs: number;
  clock: Clock;
  log: Logger;
}

export class LeaseKeeper {
  readonly #stop = new AbortController();
  #lost = false;

  private readonly store: LinkStore;
  private readonly key: LinkKey;
  readonly lease: HeldLease;
  private readonly version: number;
  private readonly ttlMs: number;
  private readonly clock: Clock;
  private readonly log: Logger;

  constructor(options: LeaseKeeperOptions) {
    ({ store: this.store, key: this.key, lease: this.lease, version: this.version, ttlMs: this.ttlMs, clock: this.clock, log: this.log } = options);
  }

  /** Whether a renewal found the lease gone (another process claimed it, or it expired while this one was paused). */
  get lost(): boolean {
    return this.#lost;
  }

  /**
   * Confirms the lease and marks the send. false: the lease is no longer
   * ours or the row changed — send nothing. A storage fault propagates
   * (StoreUnavailableError): an unconfirmed lease is never sent under.
   */
  async confirmSending(): Promise<boolean> {
    return this.#confirm("sending");
  }

  /**
   * The provider answered without issuing anything: nothing is in doubt, so
   * the send record goes. false: the lease is gone (send nothing more).
   */
  async answered(): Promise<boolean> {
    return this.#confirm("clear");
  }

  async #confirm(mark: "sending" | "clear"): Promise<boolean> {
    if (this.#lost) return false;
    const ok = await this.store.confirmLease(this.key, this.lease, this.version, this.ttlMs, { mark });
    if (!ok) this.#lost = true;
    return ok;
  }

  /** Starts the heartbeat; stop() ends it. */
  start(): this {
    this.#beat().catch((err: unknown) => {
      this.#lost = true; // a renewal that cannot be judged is no lease: send nothing more
      this.log.error({ provider: this.key.providerId, user: this.key.userId, err: { name: err instanceof Error ? err.name : "unknown" } }, "renewing the refresh lease failed");
    });
    return this;
  }

  stop(): void {
    this.#stop.abort();
  }

  async #beat(): Promise<void> {
    const interval = Math.max(1, Math.floor(this.ttlMs / 3));
    while (!this.#stop.signal.aborted && !this.#lost) {
      try {
        await this.clock.sleep(interval, this.#stop.signal);
      } catch {
        return; // stopped
      }
      try {
        if (!(await this.store.confirmLease(this.key, this.lease, this.version, this.ttlMs))) {
          this.#lost = true;
          this.log.warn({ provider: this.key.providerId, user: this.key.userId }, "refresh lease lost while working; no further request will be sent under it");
        }
      } catch (err) {
        // Busy or full: the other processes cannot write either; try again next beat.
        if (!(err instanceof StoreUnavailableError)) throw err;
        this.log.warn({ provider: this.key.providerId, user: this.key.userId, err: { code: err.code } }, "renewing the refresh lease failed; retrying");
      }
    }
  }
}
