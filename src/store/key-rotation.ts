import { setImmediate as yieldToLoop } from "node:timers/promises";
import { Mutex } from "async-mutex";
import type { Keyring } from "../crypto/index.js";
import type { KeyringStore } from "./keyring-store.js";
import type { LinkKey } from "./link-store.js";

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
    private readonly store: KeyringStore,
    private readonly keyring: Keyring,
  ) {}

  async status(): Promise<{ keys: KeyStatusEntry[]; underUnknownKeys: number }> {
    const counts = await this.store.countByKeyId();
    const firstSeen = new Map((await this.store.listSentinels()).map((s) => [s.keyId, s.createdAt]));
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
  async remaining(): Promise<number> {
    let n = 0;
    for (const [id, count] of await this.store.countByKeyId()) if (id !== this.keyring.active.id) n += count;
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
      return { rows, remaining: await this.remaining() };
    });
  }
}
