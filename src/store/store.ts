import type { CallerTokenStore } from "./caller-token-store.js";
import type { FlowStore } from "./flow-store.js";
import type { KeyringStore } from "./keyring-store.js";
import type { LinkStore } from "./link-store.js";

/**
 * One opened store (today the embedded SQLite file, store/sqlite/): the
 * composition root hands each part to the room that needs it.
 */
export interface Store {
  readonly links: LinkStore;
  readonly flows: FlowStore;
  readonly keyring: KeyringStore;
  /** Job-scoped caller tokens, stored hashed (migration 5). */
  readonly callerTokens: CallerTokenStore;
  /** Finishes pending writes and closes. Idempotent. */
  close(): Promise<void>;
}
