/**
 * The properties every simulated run must keep (issue 19 item 3):
 *  (a) the provider never receives a spent refresh token (provider-model.ts);
 *  (b) when quiet, each link holds the provider's current refresh token, or is
 *      failed while the grant is really gone — never failed while a live
 *      process holds the rotated token, nor for a send whose outcome was known;
 *  (c) every token served was valid at the provider for the caller's
 *      min_valid_for when it was served (world.ts, as it is served);
 *  (d) row versions and lease generations never go back;
 *  (e) once faults stop, every caller is answered by its deadline.
 */
import { keyOf, type World } from "./world.js";

export interface Violation {
  check: string;
  /** A stable name for the kind of failure, for the census (census.ts) and the regression list. */
  kind?: string;
  detail: string;
}

/** Slack for an answer that races its own deadline timer. */
const ANSWER_SLACK_MS = 100;

/** (d): called after every command with the previous sample; returns the new one. */
export async function checkHistory(world: World, before: Map<string, { version: number; generation: number }>): Promise<Violation[]> {
  const out: Violation[] = [];
  for (const link of world.links) {
    const rec = await world.db.get(keyOf(link));
    const lease = await world.db.readLease(keyOf(link));
    if (rec === undefined) {
      before.delete(link); // unlinked: a later link starts its history afresh
      continue;
    }
    if (rec.refreshToken !== null && world.provider.refreshOfReplacedGrant(link, rec.refreshToken)) {
      out.push({ check: "d", kind: "a re-linked row went back to its old grant", detail: `${link} holds ${rec.refreshToken}, of the grant a re-link replaced` });
    }
    const now = { version: rec.version, generation: lease?.generation ?? before.get(link)?.generation ?? 0 };
    const was = before.get(link);
    if (was !== undefined && (now.version < was.version || now.generation < was.generation)) {
      out.push({ check: "d", kind: "history went back", detail: `${link}: version ${was.version} -> ${now.version}, generation ${was.generation} -> ${now.generation}` });
    }
    before.set(link, now);
  }
  return out;
}

/** (b) and the final answers, after the quiet phase. */
export async function checkQuiet(world: World, finals: Map<string, string | undefined>): Promise<Violation[]> {
  const out: Violation[] = [];
  const live = new Set(world.nodes.filter((n) => !n.proc.dead).map((n) => n.proc.name));
  // A sender that died after the database recorded its send, before a definitive answer: no one can know.
  const orphaned = (token: string): boolean =>
    world.sendMarks.some((m) => m.token === token && m.proc.dead && !world.flights.some((f) => f.proc === m.proc && f.presented === token && f.result === "definitive"));
  const unknownFor = (token: string): boolean =>
    world.orphanedSends.has(token) ||
    orphaned(token) ||
    world.flights.some((f) => f.presented === token && (f.result === "unknown" || (f.result === "pending" && f.proc.dead)));
  for (const link of world.links) {
    const rec = await world.db.get(keyOf(link));
    const g = world.provider.grants.get(link);
    if (rec === undefined || g === undefined || g.revoked) continue; // a revoked grant is check (a)'s finding
    const holders = [...(g.heldBy.get(g.current) ?? [])].filter((p) => live.has(p));
    if (rec.refreshToken !== null) {
      if (rec.refreshToken === g.current) {
        const final = finals.get(link);
        if (final !== "OK") out.push({ check: "b", kind: "healthy link not served", detail: `${link} holds the provider's current refresh token, yet the call after the faults answered ${final ?? "nothing"}` });
      } else if (holders.length > 0) {
        out.push({ check: "b", kind: "rotated token dropped", detail: `${link} keeps spent refresh token ${rec.refreshToken} while ${holders.join(", ")} holds the rotated ${g.current}` });
      } else if (!unknownFor(rec.refreshToken)) {
        out.push({ check: "b", kind: "spent token kept", detail: `${link} holds spent refresh token ${rec.refreshToken}; the rotated ${g.current} reached no one, yet no send of it had an unknown outcome` });
      }
      continue;
    }
    const failed = world.failedTokens.get(link);
    if (failed !== undefined && failed === g.current) {
      // The provider never rotated the token the link was failed for: legitimate only if
      // some send of it had an outcome no process could know (invariant 11).
      if (!unknownFor(failed)) {
        out.push({ check: "b", kind: "link failed for a send with a known outcome", detail: `${link} was failed (${rec.refreshFailure?.reason ?? "no reason"}) although ${failed} was never rotated and every send of it had a known outcome` });
      }
    } else if (holders.length > 0) {
      out.push({ check: "b", kind: "link failed while a process holds its rotated token", detail: `${link} was failed (${rec.refreshFailure?.reason ?? "no reason"}) while ${holders.join(", ")} holds the rotated refresh token ${g.current}` });
    }
  }
  return out;
}

/** (e): every caller of a process still alive was answered by its deadline (or soon after its process resumed). */
export function checkCallers(world: World): Violation[] {
  const out: Violation[] = [];
  for (const c of world.callers) {
    if (c.node.proc.dead) continue;
    const bound = Math.max(c.deadlineAt, c.node.resumedAt) + ANSWER_SLACK_MS;
    if (c.settledAt === undefined || c.settledAt > bound) {
      out.push({ check: "e", kind: c.settledAt === undefined ? "caller never answered" : "caller answered late", detail: `a caller of ${c.node.proc.name} for ${c.link} (deadline +${c.deadlineAt - c.startedAt} ms) was ${c.settledAt === undefined ? "never answered" : `answered ${c.settledAt - bound} ms late`}` });
    }
  }
  return out;
}
