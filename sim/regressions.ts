/**
 * Named regression examples: every failure the simulation found, kept as a
 * short schedule that must pass from now on. Each names what broke and how
 * it was found (seed and path of the shrunk run, or the table row of the
 * fault-proof-across-hosts issue it re-creates). `npm run sim -- --regressions`
 * runs them; so does `npm test` (test/sim/).
 */
import type { Command, RunConfig, Schedule } from "./commands.js";
import { unexplainedGaps } from "./liveness.js";
import type { RunResult } from "./run.js";

export interface Regression {
  name: string;
  found: string;
  schedule: Schedule;
  /** Beyond the checks: what some callers (by the order they asked) must have been answered. */
  outcomes?: Record<number, string>;
  /**
   * Beyond the checks: no link ever went without a valid access token (its
   * next token issued before the last one expired). For schedules whose links
   * stay in use and whose provider answers: refreshing ahead is never late.
   */
  unbroken?: true;
  /**
   * Beyond the checks: the liveness of the fault-free schedules (liveness.ts)
   * — no link a caller used within keep_fresh_for went without a valid token;
   * links nobody uses may.
   */
  live?: true;
}

const base: RunConfig = { seed: 0, engines: 1, hosts: 1, links: 1, graceMs: 0, killsOlderAccess: false };
/** Past the first token's lifetime: every call needs a refresh. */
const expire: Command = { t: "advance", ms: 35_000 };

export const regressions: Regression[] = [
  {
    name: "a request that timed out after the provider rotated is not sent again",
    found: "census --seed 11 (kind: spent refresh token sent), shrunk at --seed 11 --path 5623",
    schedule: {
      config: base,
      commands: [expire, { t: "answer", mode: { kind: "lost" }, count: 1 }, { t: "obtain", e: 0, link: 0, minValid: 0, deadline: 500 }, { t: "advance", ms: 12_000 }],
    },
  },
  {
    name: "a rotated answer that arrives after the timeout is used, not resent",
    found: "issue 18 row 1 (a provider that answers after refresh.timeout)",
    schedule: {
      config: base,
      commands: [expire, { t: "answer", mode: { kind: "slow", ms: 1_500 }, count: 1 }, { t: "obtain", e: 0, link: 0, minValid: 0, deadline: 10_000 }, { t: "advance", ms: 12_000 }],
    },
  },
  {
    name: "a holder on another host paused in the backoff after a 503 does not cost the link",
    found: "census --seed 11 (kind: link failed for a send with a known outcome), path 6080; issue 18 row 4",
    schedule: {
      config: { ...base, engines: 2, hosts: 2 },
      commands: [
        expire,
        { t: "answer", mode: { kind: "unavailable", retryAfterMs: 2_000 }, count: 1 },
        { t: "obtain", e: 0, link: 0, minValid: 0, deadline: 10_000 },
        { t: "advance", ms: 50 },
        { t: "pause", e: 0 },
        { t: "advance", ms: 4_000 },
        { t: "obtain", e: 1, link: 0, minValid: 0, deadline: 10_000 },
        { t: "advance", ms: 12_000 },
      ],
    },
  },
  {
    name: "on one host, a holder paused in the backoff after a 503 does not block the key",
    found: "issue 18 row 4 (the same pause on one host)",
    schedule: {
      config: { ...base, engines: 2, hosts: 1 },
      commands: [
        expire,
        { t: "answer", mode: { kind: "unavailable", retryAfterMs: 2_000 }, count: 1 },
        { t: "obtain", e: 0, link: 0, minValid: 0, deadline: 10_000 },
        { t: "advance", ms: 50 },
        { t: "pause", e: 0 },
        { t: "advance", ms: 4_000 },
        { t: "obtain", e: 1, link: 0, minValid: 0, deadline: 20_000 },
        { t: "advance", ms: 21_000 },
      ],
    },
    // The other process takes the expired lease over and refreshes while the holder is still paused.
    outcomes: { 1: "OK" },
  },
  {
    name: "inside the provider's reuse grace window, a late answer may be resent for",
    found: "issue 18 (a provider with a grace window that rotates and answers late)",
    schedule: {
      config: { ...base, graceMs: 2_000 },
      commands: [expire, { t: "answer", mode: { kind: "slow", ms: 1_500 }, count: 1 }, { t: "obtain", e: 0, link: 0, minValid: 0, deadline: 10_000 }, { t: "advance", ms: 12_000 }],
    },
  },
  {
    name: "the answer of a holder that returns after its lease was taken is committed",
    found: "census --seed 11 (kind: link failed while a process holds its rotated token), path 2613; issue 18 rows 2-3",
    schedule: {
      config: { ...base, engines: 2, hosts: 2 },
      commands: [
        expire,
        { t: "answer", mode: { kind: "slow", ms: 500 }, count: 1 },
        { t: "obtain", e: 0, link: 0, minValid: 0, deadline: 10_000 },
        { t: "advance", ms: 100 },
        { t: "pause", e: 0 },
        { t: "advance", ms: 4_000 },
        { t: "obtain", e: 1, link: 0, minValid: 0, deadline: 10_000 },
        { t: "advance", ms: 2_000 },
        { t: "resume", e: 0 },
        { t: "advance", ms: 12_000 },
      ],
    },
  },
  {
    name: "an answer that arrives after the link was failed for its interruption heals it",
    found: "issue 18 rows 2-3 (a holder cut off longer than the interrupted window)",
    schedule: {
      config: { ...base, engines: 2, hosts: 2 },
      commands: [
        expire,
        { t: "answer", mode: { kind: "slow", ms: 500 }, count: 1 },
        { t: "obtain", e: 0, link: 0, minValid: 0, deadline: 10_000 },
        { t: "advance", ms: 100 },
        { t: "pause", e: 0 },
        { t: "advance", ms: 40_000 },
        { t: "obtain", e: 1, link: 0, minValid: 0, deadline: 10_000 },
        { t: "advance", ms: 2_000 },
        { t: "resume", e: 0 },
        { t: "advance", ms: 12_000 },
      ],
    },
    // The other host fails the link once the window is over; the returning answer heals it.
    outcomes: { 1: "REAUTH_REQUIRED" },
  },
  {
    name: "a host whose clock stepped forward does not take a live lease",
    found: "census --seed 7, shrunk at --seed 7 --path 1752 (a +4 s step); issue 18 row 5",
    schedule: {
      config: { ...base, engines: 2, hosts: 2 },
      commands: [
        expire,
        { t: "stepClock", e: 1, ms: 4_000 },
        { t: "answer", mode: { kind: "slow", ms: 800 }, count: 1 },
        { t: "obtain", e: 0, link: 0, minValid: 0, deadline: 10_000 },
        { t: "advance", ms: 100 },
        { t: "obtain", e: 1, link: 0, minValid: 0, deadline: 10_000 },
        { t: "advance", ms: 12_000 },
      ],
    },
    // It waits for the live holder's answer instead of taking its lease.
    outcomes: { 1: "OK" },
  },
  {
    name: "a caller on another host waits out a live holder's slow answer and gets it",
    found: "mutation 'claim a live holder's lease before it expires' (survived the exploration: a premature takeover only delays callers)",
    schedule: {
      config: { ...base, engines: 2, hosts: 2 },
      commands: [
        expire,
        { t: "answer", mode: { kind: "slow", ms: 2_500 }, count: 1 },
        { t: "obtain", e: 0, link: 0, minValid: 0, deadline: 10_000 },
        { t: "advance", ms: 100 },
        { t: "obtain", e: 1, link: 0, minValid: 0, deadline: 10_000 },
        { t: "advance", ms: 12_000 },
      ],
    },
    outcomes: { 0: "OK", 1: "OK" },
  },
  {
    name: "an answer to a re-linked link's old grant never heals the new one",
    found: "mutation 'heal without comparing the sent digest' (survived the exploration)",
    schedule: {
      config: { ...base, engines: 2, hosts: 2 },
      commands: [
        expire,
        { t: "answer", mode: { kind: "slow", ms: 500 }, count: 1 },
        { t: "obtain", e: 0, link: 0, minValid: 0, deadline: 10_000 },
        { t: "advance", ms: 100 },
        { t: "pause", e: 0 },
        { t: "relink", link: 0 },
        { t: "advance", ms: 1_000 },
        { t: "answer", mode: { kind: "lost" }, count: 1 },
        { t: "obtain", e: 1, link: 0, minValid: 29_500, deadline: 60_000 },
        { t: "advance", ms: 60_000 },
        { t: "obtain", e: 1, link: 0, minValid: 29_500, deadline: 10_000 },
        { t: "advance", ms: 2_000 },
        { t: "resume", e: 0 },
        { t: "advance", ms: 1_000 },
        { t: "obtain", e: 0, link: 0, minValid: 0, deadline: 10_000 },
        { t: "advance", ms: 12_000 },
      ],
    },
    // The new grant's refresh was interrupted (its answer lost), then failed after the window;
    // the old grant's answer arriving after that does not revive the link with the old grant.
    outcomes: { 1: "REFRESH_INTERRUPTED", 2: "REAUTH_REQUIRED", 3: "REAUTH_REQUIRED" },
  },
  {
    name: "a refreshed token held in memory while the store is cut off keeps the lease (no one else sends the spent token)",
    found: "census --seed 6 (kind: spent refresh token sent) after the freezeAfterSend fault point was added; shrunk at --path 6398",
    schedule: {
      config: { ...base, engines: 2, hosts: 1 },
      commands: [
        { t: "freezeAfterSend", e: 0, how: "cutStore", forMs: 0 },
        expire,
        { t: "obtain", e: 0, link: 0, minValid: 29_000, deadline: 500 },
        { t: "advance", ms: 50 },
        { t: "obtain", e: 1, link: 0, minValid: 0, deadline: 500 },
      ],
    },
  },
  {
    name: "a held token too short for its caller is not handed out",
    found: "census --seed 4 (kind: served a token the provider does not honour), shrunk at --path 5485",
    schedule: {
      config: base,
      commands: [{ t: "advance", ms: 12_000 }, { t: "freezeAfterSend", e: 0, how: "cutStore", forMs: 0 }, { t: "obtain", e: 0, link: 0, minValid: 29_000, deadline: 10_000 }, { t: "advance", ms: 1_500 }],
    },
  },
  {
    name: "a 429 whose send record could not be cleared (store cut off) does not fail the link",
    found: "census --seed 4 (kind: link failed for a send with a known outcome), shrunk at --path 203",
    schedule: {
      config: base,
      commands: [
        { t: "freezeAfterSend", e: 0, how: "cutStore", forMs: 0 },
        { t: "advance", ms: 12_000 },
        { t: "answer", mode: { kind: "rate_limited", retryAfterMs: 0 }, count: 1 },
        { t: "obtain", e: 0, link: 0, minValid: 29_000, deadline: 500 },
        { t: "advance", ms: 12_000 },
      ],
    },
  },
  {
    name: "a holder paused between a 503 and reading it clears its send record once it resumes, though its lease was taken",
    found: "census --seed 12 (kind: link failed for a send with a known outcome), shrunk at --path 4103",
    schedule: {
      config: { ...base, engines: 2, hosts: 2 },
      commands: [
        expire,
        { t: "obtain", e: 1, link: 0, minValid: 0, deadline: 500 },
        { t: "freezeAfterSend", e: 0, how: "pause", forMs: 0 },
        { t: "obtain", e: 0, link: 0, minValid: 0, deadline: 500 },
        { t: "answer", mode: { kind: "unavailable", retryAfterMs: 0 }, count: 1 },
        { t: "advance", ms: 4_000 },
      ],
    },
  },
  {
    name: "a 2xx without usable tokens is never sent again",
    found: "mutation 'classify a 2xx as transient' (caught by exploration only, at seed 7); issue 18 (odd 2xx)",
    schedule: {
      config: base,
      commands: [expire, { t: "answer", mode: { kind: "odd2xx" }, count: 1 }, { t: "obtain", e: 0, link: 0, minValid: 0, deadline: 10_000 }, { t: "advance", ms: 12_000 }],
    },
    outcomes: { 0: "REFRESH_INTERRUPTED" },
  },
  {
    name: "a background clear of a known refusal's record never clears a newer send's record",
    found: "census --seed 31 (kind: spent refresh token sent), shrunk at --path 4388, found while reviewing the change",
    schedule: {
      config: base,
      commands: [
        { t: "freezeAfterSend", e: 0, how: "pause", forMs: 5_000 },
        { t: "answer", mode: { kind: "rate_limited", retryAfterMs: 0 }, count: 1 },
        { t: "stepClock", e: 0, ms: 600_000 },
        { t: "answer", mode: { kind: "lost" }, count: 1 },
        { t: "obtain", e: 0, link: 0, minValid: 0, deadline: 500 },
        { t: "advance", ms: 12_000 },
      ],
    },
  },
  {
    name: "a caller is answered by its deadline while the store is unreachable",
    found: "census --seed 11 (kind: caller answered late), path 4; issue 18 row 3 (callers stuck)",
    schedule: {
      config: base,
      commands: [{ t: "cutStore", e: 0, on: true }, { t: "obtain", e: 0, link: 0, minValid: 0, deadline: 500 }, { t: "advance", ms: 3_000 }],
    },
  },
  {
    name: "a caller that needs a refresh while a background refresh is sending waits for it, in the same process",
    found: "issue 22 (refreshing ahead, docs/design.md §3.4): the mutant 'background refreshes skip the per-key lock' answered the caller REFRESH_INTERRUPTED (it claimed its own process's lease mid-send)",
    schedule: {
      config: { ...base, keepFreshForMs: 60_000 },
      commands: [
        { t: "obtain", e: 0, link: 0, minValid: 0, deadline: 2_000 },
        { t: "answer", mode: { kind: "slow", ms: 6_000 }, count: 1 },
        // The background refresh is due at 75–80 % of the 30 s lifetime: sent by 24 s, answered 6 s later.
        { t: "advance", ms: 24_500 },
        { t: "obtain", e: 0, link: 0, minValid: 20_000, deadline: 10_000 },
        { t: "advance", ms: 12_000 },
      ],
    },
    outcomes: { 0: "OK", 1: "OK" },
  },
  {
    name: "a keep-alive refresh of an idle-lifetime link and the last call of the same process take turns",
    found: "mutant 'background refreshes skip the per-key lock', exploration --seed 7 --path 2489:31 (with the mutant: the final call answered REFRESH_INTERRUPTED)",
    schedule: {
      config: { seed: 1278724239, engines: 1, hosts: 1, links: 2, graceMs: 0, killsOlderAccess: false, keepFreshForMs: 60_000, idleLifetimeMs: 40_000 },
      commands: [{ t: "advance", ms: 4_000 }],
    },
  },
  {
    // Found as a check (c) failure that was the check's: the caller asked the paused holder
    // before the heal resumed it and it committed, in the same virtual millisecond, and the
    // check compared times with <=. Kept so the check keeps judging by the order of events:
    // the caller is served the old token (it asked before anyone could know), and any caller
    // asking after the commit gets the new one (the final call).
    name: "a caller that asked a paused holder before its commit may get the token the provider just replaced",
    found: "exploration after the proactive-refresh generator change (seed 42 before the fields were derived from the run's seed); on main without refreshing ahead",
    schedule: {
      config: { seed: 2146435028, engines: 1, hosts: 1, links: 1, graceMs: 0, killsOlderAccess: true },
      commands: [
        { t: "advance", ms: 12_000 },
        { t: "obtain", e: 0, link: 0, minValid: 29_000, deadline: 500 },
        { t: "freezeAfterSend", e: 0, how: "pause", forMs: 0 },
        { t: "advance", ms: 1_500 },
        { t: "obtain", e: 0, link: 0, minValid: 0, deadline: 500 },
      ],
    },
    outcomes: { 1: "OK", 2: "OK" },
  },
  {
    // Generated runs have one or two links, so the capacity-aware start (ahead-capacity.ts) is
    // rarely taken there. Eight links in use on two hosts with one background slot each, their
    // tokens issued together, and slow answers that teach the scheduler a refresh takes
    // seconds: the later waves start early, from half the useful life, and the engine's judgement
    // at that edge (AheadPlan.earliest) meets the other host's lease and its commits.
    name: "links due together on two hosts start early for their backlog, and each rotation is still sent once",
    unbroken: true,
    found: "written with the capacity-aware start of refreshing ahead (docs/design.md §3.4), not found by exploration",
    schedule: {
      config: { seed: 20261206, engines: 2, hosts: 2, links: 8, graceMs: 0, killsOlderAccess: false, keepFreshForMs: 300_000 },
      commands: [
        ...Array.from({ length: 16 }, (_, i): Command => ({ t: "obtain", e: i % 2, link: i >> 1, minValid: 5_000, deadline: 2_000 })),
        { t: "answer", mode: { kind: "slow", ms: 900 }, count: 3 },
        { t: "advance", ms: 35_000 },
        { t: "answer", mode: { kind: "slow", ms: 900 }, count: 3 },
        { t: "advance", ms: 35_000 },
        { t: "advance", ms: 35_000 },
        { t: "obtain", e: 1, link: 3, minValid: 5_000, deadline: 2_000 },
      ],
    },
  },
  {
    // The same capacity-aware start where it decides whether links go without a token: twelve
    // links in use on one host with one background slot, every answer 900 ms. From 75-80 % of a
    // 30 s lifetime the slot has room for about seven refreshes before the tokens expire; started
    // early enough (from half the lifetime, once the first refresh measured the cost) all twelve
    // fit. Without the early start, or with the engine judging an early start by the 75 % edge
    // (AheadPlan.earliest ignored: it answers "not needed"), links go without a token.
    name: "twelve links due together on one background slot are all refreshed before their tokens expire",
    found: "written for the gap check of refreshing ahead (the simulation had no check that flags a late background refresh)",
    unbroken: true,
    schedule: {
      config: { seed: 20261207, engines: 1, hosts: 1, links: 12, graceMs: 0, killsOlderAccess: false, keepFreshForMs: 300_000 },
      commands: [
        ...Array.from({ length: 12 }, (_, i): Command => ({ t: "obtain", e: 0, link: i, minValid: 0, deadline: 2_000 })),
        { t: "answer", mode: { kind: "slow", ms: 900 }, count: 40 },
        { t: "advance", ms: 35_000 },
        { t: "advance", ms: 35_000 },
      ],
    },
  },
  {
    // A link of an idle-lifetime provider stays tracked while nobody uses it, its next background
    // refresh planned for the refresh token's idle deadline. A caller using it again did not plan
    // it anew (nothing in its min_valid_for or its token had changed), so the token expired in
    // use and was refreshed at the idle deadline, half a minute later.
    name: "a link of an idle-lifetime provider used again after keep_fresh_for ran out is refreshed ahead before it expires",
    found: "the fault-free schedules' liveness check (sim/liveness.ts) on its first batch: --calm --seed 20261206 --path 91:0:0:4:3:12:13:7",
    live: true,
    schedule: {
      config: { seed: 0, engines: 1, hosts: 1, links: 1, graceMs: 0, killsOlderAccess: false, keepFreshForMs: 20_000, idleLifetimeMs: 80_000 },
      commands: [
        { t: "obtain", e: 0, link: 0, minValid: 5_000, deadline: 2_000 },
        { t: "advance", ms: 35_000 },
        { t: "obtain", e: 0, link: 0, minValid: 5_000, deadline: 2_000 },
      ],
    },
  },
];

/** Violations of a regression's own expectations, given what its run did. */
export function unmetExpectations(r: Regression, result: Pick<RunResult, "outcomes" | "gaps" | "uses">): string[] {
  const out: string[] = [];
  for (const [i, want] of Object.entries(r.outcomes ?? {})) {
    const got = result.outcomes[Number(i)];
    if (got !== want) out.push(`caller ${i} was answered ${got ?? "nothing"}, expected ${want}`);
  }
  if (r.unbroken) for (const g of result.gaps) out.push(`${g.link} had no valid access token for ${g.to - g.from} ms: refreshed ahead too late`);
  if (r.live) for (const v of unexplainedGaps(result.gaps, result.uses, r.schedule.config.keepFreshForMs ?? 0)) out.push(v.detail);
  return out;
}
