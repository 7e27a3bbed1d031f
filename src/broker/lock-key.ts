import type { LinkKey } from "../store/link-store.js";

/** The in-process identity of a key: the lock map's, the failure memory's and the pending commits'. */
export function lockKey(key: LinkKey): string {
  return `${key.providerId}\u0000${key.userId}`;
}
