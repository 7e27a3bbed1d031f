/**
 * Liveness of refreshing ahead (docs/design.md §3.4), judged where it must
 * hold: in a fault-free run — callers and the passing of time, nothing
 * paused, crashed, cut off or answered oddly — a link a caller used within
 * keep_fresh_for never goes without a valid access token. The checks of
 * checks.ts are all safety (nothing replayed, lost or replaced served); in a
 * run with faults a gap is legitimate, so exploration of those runs cannot
 * notice a background scheduler that starts late or never.
 */
import type { Violation } from "./checks.js";
import type { Gap } from "./provider-model.js";

/** A caller answered OK for `link` at `at`: from then on the link is in use for keep_fresh_for. */
export interface Use {
  link: string;
  at: number;
}

/**
 * A use this close to the token's expiry (or closer) may legitimately find
 * it expired before the background refresh it starts is answered: answers
 * take 1–10 ms in a fault-free run, so a second is generous.
 */
export const LEAD_MS = 1_000;

/**
 * The gaps no rule explains: the link's token expired at `from` although a
 * caller had used it at least LEAD_MS before and within keep_fresh_for of
 * that expiry, so its background refresh was due while it was in use.
 */
export function unexplainedGaps(gaps: readonly Gap[], uses: readonly Use[], keepFreshForMs: number): Violation[] {
  if (keepFreshForMs <= 0) return [];
  const out: Violation[] = [];
  for (const g of gaps) {
    const inUse = uses.find((u) => u.link === g.link && u.at <= g.from - LEAD_MS && u.at + keepFreshForMs >= g.from);
    if (inUse === undefined) continue;
    out.push({
      check: "liveness",
      kind: "in-use link went without a valid token",
      detail: `${g.link} had no valid access token for ${g.to - g.from} ms from ${g.from}, though a caller used it at ${inUse.at} (keep_fresh_for ${keepFreshForMs} ms)`,
    });
  }
  return out;
}
