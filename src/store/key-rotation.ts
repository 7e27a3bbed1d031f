import { setImmediate as yieldToLoop } from "node:timers/promises";
import { Mutex } from "async-mutex";
import type { Keyring } from "../crypto/keyring.js";
import type { LinkKey } from "./link-store.js";
import type { KeySentinel, ResealBatch } from "./sqlite/index.js";

/** What rotation needs from a store. */
export interface RotatableStore {
  reseal(after: LinkKey | undefined, limit: number): Promise<ResealBatch>;
  countByKeyId(): Map<string, number>;
  listSentinels(): KeySentinel[];
}

export interface KeyStatusEntry {
  keyId: string;
  active: boolean;
  sealedValues: number;
  firstSeenAt: number | undefined;
}

/**
 * Online key rotation: counts what each key sealed, and re-seals everything
 * under the active key in small batches, yielding to the event loop between
 * batches so token calls keep being served. One run at a time.
 */
export class KeyRotation {
  readonly #running = new Mutex();

  constructor(
    private readonly store: RotatableStore,
    private readonly keyring: Keyring,
  ) {}

  status(): { keys: KeyStatusEntry[]; underUnknownKeys: number } {
    const counts = this.store.countByKeyId();
    const firstSeen = new Map(this.store.listSentinels().map((s) => [s.keyId, s.createdAt]));
    const keys = this.keyring.keys.map((k) => ({
      keyId: k.id,
      active: k.id === this.keyring.active.id,
      sealedValues: counts.get(k.id) ?? 0,
      firstSeenAt: firstSeen.get(k.id),
    }));
    let underUnknownKeys = 0;
    for (const [id, n] of counts) if (!this.keyring.has(id)) underUnknownKeys += n;
    return { keys, underUnknownKeys };
  }

  /** Values not sealed under the active key. */
  remaining(): number {
    let n = 0;
    for (const [id, count] of this.store.countByKeyId()) if (id !== this.keyring.active.id) n += count;
    return n;
  }

  async reencrypt(batchSize: number, signal?: AbortSignal): Promise<{ rows: number; remaining: number }> {
    return this.#running.runExclusive(async () => {
      let after: LinkKey | undefined;
      let rows = 0;
      do {
        if (signal?.aborted) break;
        const batch = await this.store.reseal(after, batchSize);
        rows += batch.resealed;
        after = batch.next;
        await yieldToLoop();
      } while (after !== undefined);
      return { rows, remaining: this.remaining() };
    });
  }
}
