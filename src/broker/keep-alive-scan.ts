import type { Logger } from "../log.js";
import type { LinkKey, LinkMeta, LinkStore } from "../store/link-store.js";
import { AHEAD_LATEST } from "./ahead.js";
import type { Clock } from "./clock.js";
import type { Random } from "./random.js";

/**
 * Keeping an idle-lifetime provider's links alive (docs/design.md §3.4,
 * "Which links"): every tenth of the idle lifetime (1 s to 1 h apart), the
 * store's links of the provider whose refresh token gets old before the next
 * look are handed to the scheduler (proactive.ts), used or not.
 */
export interface KeepAliveScanOptions {
  store: LinkStore;
  clock: Clock;
  random: Random;
  log: Logger;
  signal: AbortSignal;
  /** A link due before the next scan (the scheduler skips those it tracks already). */
  found: (link: LinkMeta, now: number) => void;
}

/** The scan pages through the store this many links at a time. */
const SCAN_PAGE = 500;

export async function keepAliveScanLoop(o: KeepAliveScanOptions, providerId: string, idleMs: number): Promise<void> {
  const every = Math.min(3_600_000, Math.max(1_000, idleMs / 10));
  while (!o.signal.aborted) {
    try {
      await scan(o, providerId, idleMs, every);
    } catch (err) {
      o.log.warn({ provider: providerId, err: { message: String(err) } }, "listing links for keep-alive refreshes failed; trying again later");
    }
    await o.clock.sleep(every * (0.9 + 0.2 * o.random()), o.signal).catch(() => undefined);
  }
}

async function scan(o: KeepAliveScanOptions, providerId: string, idleMs: number, every: number): Promise<void> {
  let after: LinkKey | undefined;
  for (;;) {
    const page = await o.store.list({ providerId, limit: SCAN_PAGE, ...(after !== undefined ? { after } : {}) });
    const now = o.clock.now();
    for (const link of page) {
      if (!link.hasRefreshToken) continue;
      const from = link.lastRefreshedAt ?? link.updatedAt;
      // Only those due before the next scan: the others are looked at again then.
      if (from + idleMs * AHEAD_LATEST > now + every) continue;
      o.found(link, now);
    }
    if (page.length < SCAN_PAGE) return;
    const last = page[page.length - 1] as LinkKey;
    after = { providerId: last.providerId, userId: last.userId };
  }
}
